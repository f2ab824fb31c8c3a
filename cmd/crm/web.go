package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/ui"
	"github.com/crmplan/crmplan/app/web"
)

func webCommand() *cli.Command {
	return &cli.Command{
		Name:  "web",
		Usage: "serve the UI and load-balance /api over api servers, over HTTPS when given a certificate (plain HTTP on the same port is redirected); SIGHUP: hand the socket over to the binary at the same path",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", EnvVars: []string{"CRM_LISTEN"}},
			&cli.StringSliceFlag{Name: "backend", EnvVars: []string{"CRM_BACKENDS"}, Usage: "api server base URL, e.g. http://127.0.0.1:8081 (repeat; the env var takes a comma-separated list)"},
			&cli.StringFlag{Name: "backends-file", EnvVars: []string{"CRM_BACKENDS_FILE"}, Usage: "file of further api server base URLs, one a line; POST /reload on the admin socket applies its changes without a restart (new servers join once healthy, removed ones are drained first)"},
			&cli.StringFlag{Name: "mode", Value: string(web.Balance), EnvVars: []string{"CRM_MODE"}, Usage: "balance (round robin) or failover (first healthy backend)"},
			&cli.DurationFlag{Name: "health-interval", Value: 250 * time.Millisecond, EnvVars: []string{"CRM_HEALTH_INTERVAL"}},
			&cli.StringFlag{Name: "admin-socket", EnvVars: []string{"CRM_ADMIN_SOCKET"}, Usage: "Unix socket (0600) for the deploy control: drain/undrain a backend, reload the backends; none when empty"},
		}, webTLSFlags()...),
		Action: func(c *cli.Context) error {
			log, err := logger(c, "web")
			if err != nil {
				return err
			}
			tlsCfg, err := webTLSConfig(c)
			if err != nil {
				return err
			}
			m := metrics.New("web")
			backends := func() ([]string, error) { return webBackends(c.StringSlice("backend"), c.String("backends-file")) }
			urls, err := backends()
			if err != nil {
				return err
			}
			b, err := web.NewBalancer(urls, web.Mode(c.String("mode")), c.Duration("health-interval"), log, m.Registry)
			if err != nil {
				return err
			}
			go b.Run(c.Context)
			if path := c.String("admin-socket"); path != "" {
				if err := serveAdmin(c.Context, path, webAdminHandler(b, backends)); err != nil {
					return err
				}
			}
			var h http.Handler = web.Handler(b, ui.FS())
			if tlsCfg != nil {
				h = redirectPlain(h)
			}
			return serveWeb(c.Context, serve.Config{Role: "web", Listen: c.String("listen"), Handler: h,
				Ready: b.Ready, Metrics: m, Log: log}, tlsCfg)
		},
	}
}

// webTakesConnsCommand answers a handing-over crm web that asks whether
// this binary takes client connections over (see takesConns).
func webTakesConnsCommand() *cli.Command {
	return &cli.Command{
		Name:   takesConnsCommand,
		Hidden: true,
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, connFDsEnv)
			return err
		},
	}
}
