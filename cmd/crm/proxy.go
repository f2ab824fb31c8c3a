package main

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
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
			&cli.StringSliceFlag{Name: "backend", EnvVars: []string{"CRM_BACKENDS"}, Usage: "LAN server base URL (repeat; the env var takes a comma-separated list)"},
			&cli.StringFlag{Name: "backends-file", EnvVars: []string{"CRM_BACKENDS_FILE"}, Usage: "file of further LAN server base URLs, one a line; POST /reload on the admin socket applies its changes without a restart (new servers join once healthy, removed ones are drained first)"},
			&cli.StringFlag{Name: "admin-socket", EnvVars: []string{"CRM_ADMIN_SOCKET"}, Usage: "Unix socket (0600) for the deploy control: reload the backends, drain/undrain one; none when empty"},
			&cli.StringSliceFlag{Name: "allow", Value: cli.NewStringSlice("/api/v1/"), EnvVars: []string{"CRM_ALLOW"}, Usage: "path prefix to forward (repeat); others answer 404"},
			&cli.DurationFlag{Name: "health-interval", Value: 250 * time.Millisecond, EnvVars: []string{"CRM_HEALTH_INTERVAL"}},
			&cli.StringSliceFlag{Name: "route", EnvVars: []string{"CRM_ROUTES"}, Usage: "PREFIX=URL: forward paths under PREFIX to the server at URL instead, " +
				"balanced over every URL given for it (repeat), like /admin/=http://10.0.2.20:8087 for the admin consoles"},
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "proxy")
			if err != nil {
				return err
			}
			m := metrics.New("proxy")
			// The backends (seed 002's integrators) change when their tier
			// scales: the agent rewrites the file and asks for a reload,
			// so a new integrator joins, and a removed one is drained,
			// without the proxy restarting (the seed's "added without any
			// downtime ... automatically discovered").
			backends := func() ([]string, error) { return webBackends(c.StringSlice("backend"), c.String("backends-file")) }
			urls, err := backends()
			if err != nil {
				return err
			}
			b, err := web.NewBalancer(urls, web.Balance, c.Duration("health-interval"), log, m.Registry)
			if err != nil {
				return err
			}
			go b.Run(c.Context)
			if path := c.String("admin-socket"); path != "" {
				if err := serveAdmin(c.Context, path, webAdminHandler(b, backends)); err != nil {
					return err
				}
			}
			routes, err := proxyRoutes(c, m)
			if err != nil {
				return err
			}
			return serve.Run(c.Context, serve.Config{Role: "proxy", Listen: c.String("listen"), Handler: proxy.Handler(b, c.StringSlice("allow"), routes...),
				Ready: b.Ready, Metrics: m, Log: log})
		},
	}
}

// proxyRoutes balances each --route prefix over its servers.
func proxyRoutes(c *cli.Context, m *metrics.Metrics) ([]proxy.Route, error) {
	var order []string
	urls := map[string][]string{}
	for _, r := range c.StringSlice("route") {
		prefix, u, ok := strings.Cut(r, "=")
		if !ok || !strings.HasPrefix(prefix, "/") || u == "" {
			return nil, app.Errorf(app.EINVALID, "a route is PREFIX=URL like /admin/=http://10.0.2.20:8087, got %q", r).In("--route")
		}
		if urls[prefix] == nil {
			order = append(order, prefix)
		}
		urls[prefix] = append(urls[prefix], u)
	}
	log, _ := logger(c, "proxy")
	var routes []proxy.Route
	for _, p := range order {
		// Their own registry: the balancer's metrics would clash with the main one's.
		b, err := web.NewBalancer(urls[p], web.Balance, c.Duration("health-interval"), log, nil)
		if err != nil {
			return nil, err
		}
		go b.Run(c.Context)
		routes = append(routes, proxy.Route{Prefix: p, Next: b})
	}
	return routes, nil
}
