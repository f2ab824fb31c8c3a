package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/integration"
	"github.com/crmplan/crmplan/app/kv"
	"github.com/crmplan/crmplan/app/mail"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/stackkey"
	"github.com/crmplan/crmplan/app/web"
)

func integrationCommand() *cli.Command {
	return &cli.Command{
		Name:  "integration",
		Usage: "the ESB: authenticate integration clients by API token and forward their calls over the api servers",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8084", EnvVars: []string{"CRM_LISTEN"}},
			&cli.StringSliceFlag{Name: "backend", EnvVars: []string{"CRM_BACKENDS"}, Usage: "api server base URL (repeat; the env var takes a comma-separated list)"},
			&cli.StringFlag{Name: "backends-file", EnvVars: []string{"CRM_BACKENDS_FILE"}, Usage: "file of further api server base URLs, one a line; POST /reload on the admin socket applies its changes without a restart"},
			&cli.StringFlag{Name: "admin-socket", EnvVars: []string{"CRM_ADMIN_SOCKET"}, Usage: "Unix socket (0600) for the deploy control: reload the backends, drain/undrain one; none when empty"},
			&cli.DurationFlag{Name: "token-ttl", Value: 30 * time.Second, EnvVars: []string{"CRM_TOKEN_TTL"}, Usage: "how long a verified API token is trusted without asking the api tier"},
			&cli.DurationFlag{Name: "health-interval", Value: 250 * time.Millisecond, EnvVars: []string{"CRM_HEALTH_INTERVAL"}},
			&cli.StringFlag{Name: "kv", EnvVars: []string{"CRM_KV"}, Usage: "host:port of the cluster's key-value store (crm kv), where the integrators share verified tokens and call counts; " +
				"it takes the stack's service key (" + stackkey.Env + " or --service-key-file) as its password. None when empty"},
			&cli.StringFlag{Name: "mail", EnvVars: []string{"CRM_MAIL"}, Usage: "host:port of the mail relay (crm mail, the one on this machine) that an api server taken out of rotation is mailed through, " +
				"authenticated with the service key; none when empty"},
			&cli.StringSliceFlag{Name: "notify", Value: cli.NewStringSlice("ops@crm.local"), EnvVars: []string{"CRM_NOTIFY"}, Usage: "who those mails go to (repeat)"},
			serviceKeyFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "integration")
			if err != nil {
				return err
			}
			m := metrics.New("integration")
			backends := func() ([]string, error) { return webBackends(c.StringSlice("backend"), c.String("backends-file")) }
			urls, err := backends()
			if err != nil {
				return err
			}
			b, err := web.NewBalancer(urls, web.Balance, c.Duration("health-interval"), log, m.Registry)
			if err != nil {
				return err
			}
			if addr := c.String("mail"); addr != "" {
				key, err := serviceKey(c)
				if err != nil {
					return err
				}
				n := mail.Notifier{Addr: addr, Password: key.Password(), From: "integration@crm.local", To: c.StringSlice("notify")}
				b.OnEject(integration.MailEjected(c.Context, n, c.String("listen"), log))
			}
			go b.Run(c.Context)
			if path := c.String("admin-socket"); path != "" {
				if err := serveAdmin(c.Context, path, webAdminHandler(b, backends)); err != nil {
					return err
				}
			}
			g := integration.New(b, c.Duration("token-ttl"), m.Registry)
			if addr := c.String("kv"); addr != "" {
				key, err := serviceKey(c)
				if err != nil {
					return err
				}
				state := kv.Dial(addr, key.Password())
				defer state.Close()
				g.WithState(state)
			}
			// Served like crm web, so that SIGHUP hands the socket over to
			// a new release: integration calls arrive here directly, and a
			// plain restart of a single ESB refuses them meanwhile.
			return serveWeb(c.Context, serve.Config{Role: "integration", Listen: c.String("listen"), Handler: g.Handler(),
				Ready: g.Ready, Metrics: m, Log: log}, nil)
		},
	}
}
