// Package serve runs one crm role as an HTTP server: the role's handler
// plus /healthz, /readyz and /metrics, structured access logs, and a
// graceful shutdown that lets in-flight requests finish.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/crmplan/crmplan/app/metrics"
)

// Config is one role's server.
type Config struct {
	Role    string
	Listen  string // host:port
	Handler http.Handler
	// Ready fails while the role cannot serve (database down, migrations
	// behind, no healthy backend). Nil means always ready.
	Ready   func(context.Context) error
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// ShutdownTimeout bounds the wait for in-flight requests. Default 20 s.
	ShutdownTimeout time.Duration
	// OnListen, if set, is called with the bound address (tests listen on :0).
	OnListen func(addr string)
}

// Handler returns the role's handler with the health, readiness and
// metrics endpoints and request metrics around it.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": cfg.Role})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := cfg.Ready(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "role": cfg.Role, "reason": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "role": cfg.Role})
	})
	mux.Handle("GET /metrics", cfg.Metrics.Handler())
	if cfg.Handler != nil {
		mux.Handle("/", cfg.Handler)
	}
	return cfg.Metrics.Observe(mux)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           Handler(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // CSV imports are large
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	cfg.Log.Info("listening", "role", cfg.Role, "addr", l.Addr().String())
	if cfg.OnListen != nil {
		cfg.OnListen(l.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cfg.Log.Info("shutting down", "role", cfg.Role)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
