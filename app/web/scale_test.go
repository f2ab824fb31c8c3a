package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app"
)

// TestSetBackendsScalesOutAndIn: a new backend takes traffic once healthy
// (SetBackends waits for it); a removed one gets no new request and
// SetBackends returns only after its in-flight request has been answered.
func TestSetBackendsScalesOutAndIn(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	release := make(chan struct{})
	a, arrived := slowAPI(t, "a", release)
	b := fakeAPI(t, "b", &ready)
	lb, ctx := running(t, Balance, a.URL), t.Context()

	if err := lb.SetBackends(ctx, []string{a.URL, b.URL}); err != nil {
		t.Fatalf("scale out: %v", err)
	}
	seen := map[string]int{}
	for range 10 {
		_, body := get(t, lb, http.MethodGet, "/x")
		seen[body]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("after scale-out answers %v, want 5 from each", seen)
	}

	slow := make(chan string, 1)
	go func() {
		for {
			if _, body := get(t, lb, http.MethodGet, "/slow"); body == "a" {
				slow <- body
				return
			}
		}
	}()
	<-arrived
	removed := make(chan error, 1)
	go func() { removed <- lb.SetBackends(ctx, []string{b.URL}) }()
	select {
	case err := <-removed:
		t.Fatalf("scale in returned (%v) while the removed backend served a request", err)
	case <-time.After(100 * time.Millisecond):
	}
	for range 10 {
		if code, body := get(t, lb, http.MethodGet, "/x"); code != http.StatusOK || body != "b" {
			t.Fatalf("during scale-in: %d %q, want 200 from b only", code, body)
		}
	}
	close(release)
	if got := <-slow; got != "a" {
		t.Fatalf("in-flight request answered %q", got)
	}
	if err := <-removed; err != nil {
		t.Fatalf("scale in: %v", err)
	}
	if got := lb.Backends(); len(got) != 1 || got[0].URL != b.URL {
		t.Errorf("backends after scale-in %+v, want b only", got)
	}
}

func TestSetBackendsErrors(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	a := fakeAPI(t, "a", &ready)
	lb, err := NewBalancer([]string{a.URL}, Balance, 20*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		urls []string
		want string
	}{
		{"empty", nil, app.EINVALID},
		{"not a URL", []string{"127.0.0.1:8081"}, app.EINVALID},
		// Nothing would serve while the new one starts.
		{"all replaced", []string{"http://127.0.0.1:1"}, app.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lb.SetBackends(context.Background(), tt.urls)
			if app.ErrorCode(err) != tt.want {
				t.Fatalf("SetBackends(%v) = %v, want code %s", tt.urls, err, tt.want)
			}
			if got := lb.Backends(); len(got) != 1 || got[0].URL != a.URL {
				t.Errorf("backends changed by a refused set: %+v", got)
			}
		})
	}
}
