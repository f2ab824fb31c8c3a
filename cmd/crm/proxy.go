package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/proxy"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/web"
)

func proxyCommand() *cli.Command {
	return &cli.Command{
		Name:  "proxy",
		Usage: "the access proxy: forward the allowed paths from the DMZ to a LAN tier's servers",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8443", EnvVars: []string{"CRM_LISTEN"}},
			&cli.StringSliceFlag{Name: "backend", Required: true, EnvVars: []string{"CRM_BACKENDS"}, Usage: "LAN server base URL (repeat; the env var takes a comma-separated list)"},
			&cli.StringSliceFlag{Name: "allow", Value: cli.NewStringSlice("/api/v1/"), EnvVars: []string{"CRM_ALLOW"}, Usage: "path prefix to forward (repeat); others answer 404"},
			&cli.DurationFlag{Name: "health-interval", Value: 250 * time.Millisecond, EnvVars: []string{"CRM_HEALTH_INTERVAL"}},
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "proxy")
			if err != nil {
				return err
			}
			m := metrics.New("proxy")
			b, err := web.NewBalancer(c.StringSlice("backend"), web.Balance, c.Duration("health-interval"), log, m.Registry)
			if err != nil {
				return err
			}
			go b.Run(c.Context)
			return serve.Run(c.Context, serve.Config{Role: "proxy", Listen: c.String("listen"), Handler: proxy.Handler(b, c.StringSlice("allow")),
				Ready: b.Ready, Metrics: m, Log: log})
		},
	}
}
