package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// slowAPI is a real HTTP server answering its name, which holds every
// request for /slow until release is closed and says on arrived when one
// arrives.
func slowAPI(t *testing.T, name string, release <-chan struct{}) (*httptest.Server, <-chan struct{}) {
	arrived := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv, arrived
}

// TestDrainWaitsForInFlight: a drained backend gets no new request, the
// drain answers only when its slow in-flight request has been answered,
// and undrain brings it back.
func TestDrainWaitsForInFlight(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	release := make(chan struct{})
	slow, arrived := slowAPI(t, "slow", release)
	other := fakeAPI(t, "other", &ready)
	lb, ctx := running(t, Balance, slow.URL, other.URL), t.Context()

	// Round robin: one of two requests lands on the slow backend.
	answered := make(chan string, 2)
	for range 2 {
		go func() { _, body := get(t, lb, http.MethodGet, "/slow"); answered <- body }()
	}
	if got := <-answered; got != "other" {
		t.Fatalf("first answer %q, want other (the slow one is held)", got)
	}
	// Drain only once the held request has reached the slow backend: on a
	// busy machine its goroutine may not have been scheduled yet.
	<-arrived
	drained := make(chan error, 1)
	go func() { drained <- lb.Drain(ctx, slow.URL) }()
	select {
	case err := <-drained:
		t.Fatalf("drain returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	for range 10 {
		if _, body := get(t, lb, http.MethodGet, "/x"); body != "other" {
			t.Fatalf("a drained backend answered %q", body)
		}
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if got := <-answered; got != "slow" {
		t.Errorf("in-flight request answered %q, want slow (finished, not cut)", got)
	}

	// The last backend in rotation may not be drained: the drain waits
	// for another to come back, and refuses when none does in time.
	lb.drainGrace = 200 * time.Millisecond
	start := time.Now()
	if err := lb.Drain(ctx, other.URL); err == nil {
		t.Error("draining the only backend left in rotation succeeded")
	} else if waited := time.Since(start); waited < lb.drainGrace {
		t.Errorf("refused after %s, before the grace of %s", waited, lb.drainGrace)
	}
	ready.Store(false)
	waitFor(t, "other ejected", func() bool { return lb.Healthy() == 1 })
	if err := lb.Drain(ctx, other.URL); err != nil {
		t.Errorf("draining an unhealthy backend: %v", err)
	}
	if err := lb.Undrain(other.URL); err != nil {
		t.Fatal(err)
	}
	ready.Store(true)
	waitFor(t, "other back", func() bool { return lb.Healthy() == 2 })
	if err := lb.Drain(ctx, "http://127.0.0.1:1"); err == nil {
		t.Error("draining an unknown backend succeeded")
	}

	// Through the admin handler: undrain answers once it is healthy again.
	rec := httptest.NewRecorder()
	AdminHandler(lb).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/undrain?backend="+slow.URL, nil))
	var body struct{ Backends []BackendState }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("undrain: %d %s (%v)", rec.Code, rec.Body, err)
	}
	for _, b := range body.Backends {
		if b.Drained || !b.Healthy {
			t.Errorf("after undrain: %+v, want every backend in rotation", b)
		}
	}
	seen := map[string]bool{}
	for range 4 {
		_, b := get(t, lb, http.MethodGet, "/x")
		seen[b] = true
	}
	if !seen["slow"] {
		t.Errorf("undrained backend gets no traffic: %v", seen)
	}
}

// TestDrainWaitsForAnotherBackend is a rolling deploy's next step taken a
// moment after a slow health check ejected the host that just came back:
// the drain waits for that host to pass its checks again rather than
// refuse, and then drains.
func TestDrainWaitsForAnotherBackend(t *testing.T) {
	var readyA, readyB atomic.Bool
	readyA.Store(true)
	readyB.Store(true)
	a, b := fakeAPI(t, "a", &readyA), fakeAPI(t, "b", &readyB)
	lb, ctx := running(t, Balance, a.URL, b.URL), t.Context()
	lb.drainGrace = 10 * time.Second

	readyB.Store(false)
	waitFor(t, "b ejected", func() bool { return lb.Healthy() == 1 })
	drained := make(chan error, 1)
	go func() { drained <- lb.Drain(ctx, a.URL) }()
	select {
	case err := <-drained:
		t.Fatalf("drain returned (%v) while a was the only backend in rotation", err)
	case <-time.After(200 * time.Millisecond):
	}
	readyB.Store(true)
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain once b was back: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain still waiting 5 s after b passed its checks again")
	}
	for range 4 {
		if _, body := get(t, lb, http.MethodGet, "/x"); body != "b" {
			t.Fatalf("a drained backend answered %q", body)
		}
	}
}
