package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/worker"
)

func workerCommand() *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run back-end jobs: CSV import from an inbox, scheduled pipeline report and contacts export",
		Flags: append(databaseFlags(),
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8082", EnvVars: []string{"CRM_LISTEN"}, Usage: "address for /healthz, /readyz and /metrics"},
			&cli.StringFlag{Name: "inbox", EnvVars: []string{"CRM_INBOX"}, Usage: "directory of contacts CSV files to import"},
			&cli.StringFlag{Name: "outbox", EnvVars: []string{"CRM_OUTBOX"}, Usage: "directory for reports and exports"},
			&cli.StringFlag{Name: "import-owner", Value: "admin@example.com", EnvVars: []string{"CRM_IMPORT_OWNER"}, Usage: "e-mail of the owner of imported contacts"},
			&cli.DurationFlag{Name: "report-every", Value: 5 * time.Minute, EnvVars: []string{"CRM_REPORT_EVERY"}},
			&cli.DurationFlag{Name: "export-every", EnvVars: []string{"CRM_EXPORT_EVERY"}, Usage: "0 disables the scheduled export"},
			&cli.StringFlag{Name: "state-file", Value: "worker-jobs.json", EnvVars: []string{"CRM_WORKER_STATE"},
				Usage: "when each recurring job last ran, so that a restart keeps the schedule (relative to the working directory, the host's); empty keeps none"},
		),
		Action: func(c *cli.Context) error {
			log, err := logger(c, "worker")
			if err != nil {
				return err
			}
			s, err := openStore(c, log)
			if err != nil {
				return err
			}
			defer s.Close()
			m := metrics.New("worker")
			m.AddPools(s.Pools)
			// Its tier's share of the database's connections changes
			// when the tier scales; it takes it without a restart.
			defer resizesOnHangup(c, s, log)()
			w := worker.New(s, worker.Config{Inbox: c.String("inbox"), Outbox: c.String("outbox"), ImportOwner: c.String("import-owner"),
				ReportEvery: c.Duration("report-every"), ExportEvery: c.Duration("export-every"), StateFile: c.String("state-file"), Log: log}, m.Registry)
			errc := make(chan error, 1)
			go func() { errc <- w.Run(c.Context) }()
			if err := serve.Run(c.Context, serve.Config{Role: "worker", Listen: c.String("listen"), Handler: w.Handler(), Ready: s.Ready, Metrics: m, Log: log}); err != nil {
				return err
			}
			return <-errc
		},
	}
}
