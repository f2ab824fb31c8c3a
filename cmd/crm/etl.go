package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/etl"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/worker"
)

func etlCommand() *cli.Command {
	return &cli.Command{
		Name:  "etl",
		Usage: "load CSV migration jobs from an inbox into the primary; submit and list them over HTTP with a CRM API token (Authorization: Bearer crm_...)",
		Flags: append(databaseFlags(),
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8085", EnvVars: []string{"CRM_LISTEN"}},
			&cli.StringFlag{Name: "inbox", Value: "inbox", EnvVars: []string{"CRM_INBOX"}, Usage: "directory of contacts CSV files to load"},
			&cli.StringFlag{Name: "import-owner", Value: "admin@example.com", EnvVars: []string{"CRM_IMPORT_OWNER"},
				Usage: "e-mail of the owner of contacts from files put into the inbox on this host; an upload over HTTP belongs to the API token's user"},
			&cli.Int64Flag{Name: "max-size", Value: 1 << 30, EnvVars: []string{"CRM_MAX_JOB_SIZE"}, Usage: "largest CSV accepted over HTTP, in bytes"},
		),
		Action: func(c *cli.Context) error {
			log, err := logger(c, "etl")
			if err != nil {
				return err
			}
			if err := os.MkdirAll(c.String("inbox"), 0o750); err != nil {
				return app.Errorf(app.EINVALID, "%v", err).In("--inbox")
			}
			s, err := openStore(c, log)
			if err != nil {
				return err
			}
			defer s.Close()
			m := metrics.New("etl")
			m.AddPools(s.Pools)
			// Its tier's share of the database's connections changes
			// when the tier scales; it takes it without a restart.
			defer resizesOnHangup(c, s, log)()
			// The worker's importer with its other jobs off: one loader, two roles.
			w := worker.New(s, worker.Config{Inbox: c.String("inbox"), ImportOwner: c.String("import-owner"), Log: log}, m.Registry)
			errc := make(chan error, 1)
			go func() { errc <- w.Run(c.Context) }()
			in := etl.Inbox{Dir: c.String("inbox"), MaxSize: c.Int64("max-size"), Authenticate: s.TokenPrincipal}
			if err := serve.Run(c.Context, serve.Config{Role: "etl", Listen: c.String("listen"), Handler: in.Handler(), Ready: s.Ready, Metrics: m, Log: log}); err != nil {
				return err
			}
			return <-errc
		},
	}
}
