package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

// fakeAPI is a real HTTP server standing in for `crm api`: it answers
// /readyz (unless told not to) and names itself in every answer.
func fakeAPI(t *testing.T, name string, ready *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// running is a balancer over urls that checks its backends every 20 ms
// until the test ends.
func running(t *testing.T, mode Mode, urls ...string) *Balancer {
	t.Helper()
	lb, err := NewBalancer(urls, mode, 20*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	go lb.Run(t.Context())
	return lb
}

func get(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailoverModeAndReadmission(t *testing.T) {
	var readyA, readyB atomic.Bool
	readyA.Store(true)
	readyB.Store(true)
	a, b := fakeAPI(t, "a", &readyA), fakeAPI(t, "b", &readyB)
	lb := running(t, Failover, a.URL, b.URL)
	for range 5 {
		if _, body := get(t, lb, "GET", "/api/v1/x"); body != "a" {
			t.Fatalf("failover mode answered from %q, want the first backend", body)
		}
	}
	readyA.Store(false)
	waitFor(t, "a to be ejected", func() bool { return lb.Healthy() == 1 })
	if _, body := get(t, lb, "GET", "/api/v1/x"); body != "b" {
		t.Fatalf("after a failed its check: %q", body)
	}
	readyA.Store(true)
	waitFor(t, "a to come back", func() bool { return lb.Healthy() == 2 })
	if _, body := get(t, lb, "GET", "/api/v1/x"); body != "a" {
		t.Errorf("a is back but %q answered", body)
	}
}

// TestOneSlowCheckDoesNotEject: a busy api server that answers one /readyz
// late stays in rotation; one that keeps answering late is ejected.
func TestOneSlowCheckDoesNotEject(t *testing.T) {
	var checks atomic.Int32
	var hung atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && (checks.Add(1) == 3 || hung.Load()) {
			select { // past the check's timeout (twice the interval)
			case <-time.After(300 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "a")
	}))
	t.Cleanup(api.Close)
	lb, err := NewBalancer([]string{api.URL}, Balance, 100*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ejected atomic.Int32
	lb.OnEject(func(string, error) { ejected.Add(1) })
	go lb.Run(t.Context())

	waitFor(t, "the slow check and two after it", func() bool { return checks.Load() >= 6 })
	if n := ejected.Load(); n != 0 || lb.Healthy() != 1 {
		t.Fatalf("one check answered late: ejected %d times, %d healthy; want it kept in rotation", n, lb.Healthy())
	}
	hung.Store(true)
	waitFor(t, "the hung backend to be ejected", func() bool { return lb.Healthy() == 0 })
	if ejected.Load() != 1 {
		t.Errorf("ejected %d times, want once", ejected.Load())
	}
}

func TestRetryRules(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	live := fakeAPI(t, "live", &ready)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connections are refused from now on
	lb, err := NewBalancer([]string{deadURL, live.URL}, Failover, time.Hour, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	// No health check has run: the refused connection ejects the dead
	// backend and the GET is retried on the live one.
	if code, body := get(t, lb, "GET", "/api/v1/x"); code != 200 || body != "live" {
		t.Fatalf("GET: %d %q", code, body)
	}
	if lb.Healthy() != 1 {
		t.Errorf("%d healthy backends after a refused connection, want 1", lb.Healthy())
	}

	// A POST with a body whose backend breaks the connection mid-request
	// is not repeated elsewhere: it may have been applied.
	var posts atomic.Int32
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer broken.Close()
	lb2, _ := NewBalancer([]string{broken.URL, live.URL}, Failover, time.Hour, slog.New(slog.DiscardHandler), nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/accounts", strings.NewReader(`{"name":"x"}`))
	lb2.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"unavailable"`) || posts.Load() != 1 {
		t.Errorf("POST: %d %s after %d attempts; want 502 after 1", rec.Code, rec.Body.String(), posts.Load())
	}
}

func TestNewBalancerErrors(t *testing.T) {
	tests := []struct {
		name     string
		backends []string
		mode     Mode
	}{
		{"none", nil, Balance},
		{"bad url", []string{"127.0.0.1:8081"}, Balance},
		{"bad mode", []string{"http://127.0.0.1:8081"}, "random"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewBalancer(tt.backends, tt.mode, time.Second, slog.New(slog.DiscardHandler), nil); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestUIRoutes(t *testing.T) {
	ui := fstest.MapFS{
		"index.html":      {Data: []byte("<!doctype html><title>CRM</title>")},
		"assets/app-1.js": {Data: []byte("console.log(1)")},
		"favicon.svg":     {Data: []byte("<svg/>")},
	}
	lb, _ := NewBalancer([]string{"http://127.0.0.1:1"}, Balance, time.Hour, slog.New(slog.DiscardHandler), nil)
	h := Handler(lb, ui)
	tests := []struct {
		path, want string
		code       int
	}{
		{"/", "<!doctype html>", 200},
		{"/accounts/12", "<!doctype html>", 200},
		{"/assets/app-1.js", "console.log", 200},
		{"/assets/missing.js", "404", 404},
		{"/favicon.svg", "<svg/>", 200},
	}
	for _, tt := range tests {
		code, body := get(t, h, "GET", tt.path)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %d %.60q", tt.path, code, body)
		}
	}
	if code, _ := get(t, h, "POST", "/"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", code)
	}
}
