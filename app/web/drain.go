package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/crmplan/crmplan/app"
)

// backendByURL finds a backend by its base URL as given to NewBalancer.
func (b *Balancer) backendByURL(u string) (*backend, error) {
	for _, be := range b.list() {
		if be.url.String() == u {
			return be, nil
		}
	}
	return nil, app.Errorf(app.ENOTFOUND, "%s is not a backend of this balancer", u).In("backend")
}

// drainGrace is how long Drain waits for another backend to be back in
// rotation before it refuses. A rolling deploy drains the next host a
// moment after the last one came back, and under load a host just
// restarted may fail a health check or two (one slow /readyz ejects it):
// that passes within a second or two, and refusing at once would fail
// the deploy for it.
const drainGrace = 20 * time.Second

// Drain takes backend u out of rotation and waits until the requests it
// serves have finished (or ctx ends). It refuses when u is healthy and no
// other backend comes into rotation within drainGrace: draining it would
// fail every request. An unhealthy backend serves nothing, so draining it
// costs nothing (a database failover restarts api servers that all fail
// their checks).
func (b *Balancer) Drain(ctx context.Context, u string) error {
	be, err := b.backendByURL(u)
	if err != nil {
		return err
	}
	if err := b.waitOther(ctx, be); err != nil {
		return err
	}
	if !be.drained.Swap(true) {
		b.log.Info("backend drained", "backend", u)
	}
	return waitIdle(ctx, be)
}

// waitOther returns once be is unhealthy or another backend is in
// rotation, and refuses when neither happens within the balancer's grace.
func (b *Balancer) waitOther(ctx context.Context, be *backend) error {
	free := func() bool {
		if !be.healthy.Load() {
			return true
		}
		for _, o := range b.list() {
			if o != be && o.inRotation() {
				return true
			}
		}
		return false
	}
	if free() {
		return nil
	}
	start := time.Now()
	b.log.Info("drain waits for another backend to be back in rotation", "backend", be.url.String(), "up_to", b.drainGrace)
	ctx, cancel := context.WithTimeout(ctx, b.drainGrace)
	defer cancel()
	if until(ctx, free) != nil {
		return app.Errorf(app.ECONFLICT, "no other backend came into rotation within %s: draining %s would fail every request", time.Since(start).Round(time.Second), be.url).In("backend")
	}
	b.log.Info("another backend is back in rotation", "backend", be.url.String(), "waited", time.Since(start).Round(time.Millisecond))
	return nil
}

// Undrain puts backend u back into rotation; its health checks still
// decide whether it gets traffic.
func (b *Balancer) Undrain(u string) error {
	be, err := b.backendByURL(u)
	if err != nil {
		return err
	}
	if be.drained.Swap(false) {
		b.log.Info("backend undrained", "backend", u)
	}
	return nil
}

// waitHealthy waits until backend u passes the health checks, so that a
// rolling deploy moves on only when the host serves again.
func (b *Balancer) waitHealthy(ctx context.Context, u string) error {
	be, err := b.backendByURL(u)
	if err != nil {
		return err
	}
	if err := until(ctx, be.healthy.Load); err != nil {
		return app.Errorf(app.EUNAVAILABLE, "%s is back in rotation but fails its health checks: %v", u, err).In("backend")
	}
	return nil
}

// BackendState is a backend as the admin endpoint reports it.
type BackendState struct {
	URL      string `json:"url"`
	Healthy  bool   `json:"healthy"`
	Drained  bool   `json:"drained"`
	InFlight int64  `json:"in_flight"`
}

// Backends reports every backend's state.
func (b *Balancer) Backends() []BackendState {
	list := b.list()
	out := make([]BackendState, len(list))
	for i, be := range list {
		out[i] = BackendState{URL: be.url.String(), Healthy: be.healthy.Load(), Drained: be.drained.Load(), InFlight: be.inflight.Load()}
	}
	return out
}

// AdminHandler is the balancer's control for deploys, meant for a listener
// only the host can reach (crm web --admin-socket, a Unix socket):
//
//	GET  /backends                  every backend's state
//	POST /drain?backend=URL         out of rotation; answers when its in-flight requests are done
//	POST /undrain?backend=URL       back into rotation
func AdminHandler(b *Balancer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backends", func(w http.ResponseWriter, r *http.Request) { writeAdmin(w, nil, b.Backends()) })
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		writeAdmin(w, b.Drain(ctx, r.URL.Query().Get("backend")), b.Backends())
	})
	mux.HandleFunc("POST /undrain", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		u := r.URL.Query().Get("backend")
		err := b.Undrain(u)
		if err == nil {
			err = b.waitHealthy(ctx, u)
		}
		writeAdmin(w, err, b.Backends())
	})
	return mux
}

func writeAdmin(w http.ResponseWriter, err error, backends []BackendState) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := http.StatusConflict
		if app.ErrorCode(err) == app.ENOTFOUND {
			status = http.StatusNotFound
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "backends": backends})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"backends": backends})
}
