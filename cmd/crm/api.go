package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/api"
	"github.com/crmplan/crmplan/app/cache"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

func apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "serve the REST API (/api/v1) against PostgreSQL",
		Flags: append(databaseFlags(),
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8081", EnvVars: []string{"CRM_LISTEN"}, Usage: "address to listen on"},
			&cli.DurationFlag{Name: "session-ttl", Value: 12 * time.Hour, EnvVars: []string{"CRM_SESSION_TTL"}},
			&cli.BoolFlag{Name: "secure-cookies", EnvVars: []string{"CRM_SECURE_COOKIES"}, Usage: "mark cookies Secure (TLS in front)"},
			&cli.DurationFlag{Name: "report-max-age", Value: 10 * time.Minute, EnvVars: []string{"CRM_REPORT_MAX_AGE"}, Usage: "use the worker's pipeline snapshot if younger"},
			&cli.StringSliceFlag{Name: "cache", EnvVars: []string{"CRM_CACHE"}, Usage: "cache tier (crm cache / memcached) host:port, repeatable: who holds a session is read there before the database"},
			&cli.DurationFlag{Name: "cache-ttl", Value: time.Minute, EnvVars: []string{"CRM_CACHE_TTL"}, Usage: "how long a cached principal lives (user changes invalidate at once)"},
		),
		Action: func(c *cli.Context) error {
			log, err := logger(c, "api")
			if err != nil {
				return err
			}
			s, err := openStore(c, log)
			if err != nil {
				return err
			}
			defer s.Close()
			m := metrics.New("api")
			cfg := api.Config{SessionTTL: c.Duration("session-ttl"), SecureCookies: c.Bool("secure-cookies"),
				ReportMaxAge: c.Duration("report-max-age"), Log: log}
			if servers := c.StringSlice("cache"); len(servers) > 0 {
				p, err := cache.NewPrincipals(cache.PrincipalsConfig{Servers: servers, TTL: c.Duration("cache-ttl"), Log: log, Registerer: m.Registry})
				if err != nil {
					return err
				}
				cfg.Principals = p
			}
			a := api.New(s, cfg)
			m.AddPools(s.Pools())
			return serve.Run(c.Context, serve.Config{Role: "api", Listen: c.String("listen"), Handler: a.Handler(), Ready: a.Ready, Metrics: m, Log: log})
		},
	}
}
