package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/admin"
	"github.com/crmplan/crmplan/app/kv"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

func adminCommand() *cli.Command {
	return &cli.Command{
		Name: "admin",
		Usage: "the web admin console (seed 002's ARWADM) under /admin/: the integrator cluster's members, calls by client, queue depths and schedules, " +
			"for the operator signing in as \"" + admin.User + "\" with the stack's service key",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8087", EnvVars: []string{"CRM_LISTEN"}},
			// --backend as well: the agent keeps a balancing role's
			// --backend list in a file it re-reads (--backends-file).
			&cli.StringSliceFlag{Name: "integration", Aliases: []string{"backend"}, EnvVars: []string{"CRM_INTEGRATORS"}, Usage: "integrator base URL (repeat)"},
			&cli.StringFlag{Name: "backends-file", EnvVars: []string{"CRM_BACKENDS_FILE"}, Usage: "file of further integrator base URLs, one a line; POST /reload on the admin socket makes them the members without a restart"},
			&cli.StringFlag{Name: "admin-socket", EnvVars: []string{"CRM_ADMIN_SOCKET"}, Usage: "Unix socket (0600) for the deploy control: POST /reload re-reads the integrators; none when empty"},
			&cli.StringSliceFlag{Name: "broker", EnvVars: []string{"CRM_BROKERS"}, Usage: "queue base URL (repeat)"},
			&cli.StringSliceFlag{Name: "scheduler", EnvVars: []string{"CRM_SCHEDULERS"}, Usage: "scheduler base URL (repeat)"},
			&cli.StringFlag{Name: "kv", EnvVars: []string{"CRM_KV"}, Usage: "host:port of the key-value store (crm kv) holding the calls by client; none when empty"},
			serviceKeyFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "admin")
			if err != nil {
				return err
			}
			key, err := serviceKey(c)
			if err != nil {
				return err
			}
			// The integrators change when their tier scales: the agent
			// rewrites the file and asks for a reload, so the console
			// shows a new ARSRV without restarting (seed 002's "added
			// without any downtime").
			integrators := func() ([]string, error) {
				if c.String("backends-file") == "" {
					return c.StringSlice("integration"), nil
				}
				return webBackends(c.StringSlice("integration"), c.String("backends-file"))
			}
			members, err := integrators()
			if err != nil {
				return err
			}
			cfg := admin.Config{Integrators: members, Brokers: c.StringSlice("broker"), Schedulers: c.StringSlice("scheduler"),
				Password: key.Password(), Client: &http.Client{Timeout: 5 * time.Second, Transport: key.Transport(nil)}, Log: log}
			if addr := c.String("kv"); addr != "" {
				store := kv.Dial(addr, key.Password())
				defer store.Close()
				cfg.Calls = func(ctx context.Context) (map[string]int64, error) { return store.Calls(ctx) }
			}
			console := admin.New(cfg)
			if path := c.String("admin-socket"); path != "" {
				if err := serveAdmin(c.Context, path, adminReloadHandler(console, integrators)); err != nil {
					return err
				}
			}
			m := metrics.New("admin")
			return serve.Run(c.Context, serve.Config{Role: "admin", Listen: c.String("listen"), Handler: console.Handler(), Metrics: m, Log: log})
		},
	}
}

// adminReloadHandler is the console's deploy control: POST /reload
// re-reads the integrators (flags and file) and makes them the members,
// GET /backends lists them; both answer {"backends": [...]} as the
// balancers' admin sockets do.
func adminReloadHandler(c *admin.Console, integrators func() ([]string, error)) http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, err error) {
		w.Header().Set("Content-Type", "application/json")
		body := map[string]any{"backends": c.Integrators()}
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			body["error"] = err.Error()
		}
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("GET /backends", func(w http.ResponseWriter, _ *http.Request) { answer(w, nil) })
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		urls, err := integrators()
		if err == nil {
			c.SetIntegrators(urls)
		}
		answer(w, err)
	})
	return mux
}
