package main

import (
	"context"
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
			&cli.StringSliceFlag{Name: "integration", EnvVars: []string{"CRM_INTEGRATORS"}, Usage: "integrator base URL (repeat)"},
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
			cfg := admin.Config{Integrators: c.StringSlice("integration"), Brokers: c.StringSlice("broker"), Schedulers: c.StringSlice("scheduler"),
				Password: key.Password(), Client: &http.Client{Timeout: 5 * time.Second, Transport: key.Transport(nil)}, Log: log}
			if addr := c.String("kv"); addr != "" {
				store := kv.Dial(addr, key.Password())
				defer store.Close()
				cfg.Calls = func(ctx context.Context) (map[string]int64, error) { return store.Calls(ctx) }
			}
			m := metrics.New("admin")
			return serve.Run(c.Context, serve.Config{Role: "admin", Listen: c.String("listen"), Handler: admin.New(cfg).Handler(), Metrics: m, Log: log})
		},
	}
}
