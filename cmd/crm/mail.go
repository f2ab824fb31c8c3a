package main

import (
	"net"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/mail"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

func mailCommand() *cli.Command {
	return &cli.Command{
		Name: "mail",
		Usage: "the integrator mail relay (seed 002's ARMAIL): SMTP for the roles' notifications, authenticated as \"" + mail.User +
			"\" with the stack's service key (AUTH PLAIN), delivered into a Maildir; /healthz, /readyz and /metrics on the same port",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:587", EnvVars: []string{"CRM_LISTEN"}, Usage: "SMTP submission and HTTP health checks"},
			&cli.StringFlag{Name: "maildir", Value: "maildir", EnvVars: []string{"CRM_MAILDIR"}, Usage: "Maildir the mail is delivered into (new/ holds what is unread)"},
			&cli.StringFlag{Name: "domain", Value: "crm-mail", EnvVars: []string{"CRM_MAIL_DOMAIN"}, Usage: "the name the relay greets with and signs its Received header with"},
			&cli.StringFlag{Name: "forward", EnvVars: []string{"CRM_MAIL_FORWARD"}, Usage: "host:port of the cluster's relay to hand every message on to (with the same key) instead of the Maildir: " +
				"the relay on a role's own machine (seed 002: ARMAIL 1 per machine); a message the cluster's relay does not take is refused with 451"},
			serviceKeyFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "mail")
			if err != nil {
				return err
			}
			key, err := serviceKey(c)
			if err != nil {
				return err
			}
			m := metrics.New("mail")
			r, err := mail.NewRelay(mail.Config{Maildir: c.String("maildir"), Password: key.Password(), Domain: c.String("domain"), Forward: c.String("forward"), Log: log}, m.Registry)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return err
			}
			log.Info("listening", "role", "mail", "addr", l.Addr().String(), "maildir", c.String("maildir"), "forward", c.String("forward"))
			return r.Serve(c.Context, l, serve.Handler(serve.Config{Role: "mail", Metrics: m, Log: log}))
		},
	}
}
