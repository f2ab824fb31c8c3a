package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/mail"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/scheduler"
	"github.com/crmplan/crmplan/app/serve"
)

func schedulerCommand() *cli.Command {
	return &cli.Command{
		Name:  "scheduler",
		Usage: "trigger the worker's jobs on a schedule and announce each tick on the pub/sub queue",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8086", EnvVars: []string{"CRM_LISTEN"}},
			&cli.StringSliceFlag{Name: "job", Value: cli.NewStringSlice("report=5m", "export=1h"), EnvVars: []string{"CRM_JOBS"}, Usage: "NAME=PERIOD (repeat)"},
			&cli.StringSliceFlag{Name: "worker", EnvVars: []string{"CRM_WORKERS"}, Usage: "worker base URL (repeat; the first that answers runs the job)"},
			&cli.StringSliceFlag{Name: "broker", EnvVars: []string{"CRM_BROKERS"}, Usage: "queue base URL for the ticks (repeat)"},
			&cli.StringFlag{Name: "topic", Value: "schedule", EnvVars: []string{"CRM_TOPIC"}},
			&cli.StringFlag{Name: "mail", EnvVars: []string{"CRM_MAIL"}, Usage: "host:port of the mail relay (crm mail) that a job's failed trigger is mailed through; none when empty"},
			&cli.StringSliceFlag{Name: "notify", Value: cli.NewStringSlice("ops@crm.local"), EnvVars: []string{"CRM_NOTIFY"}, Usage: "who the failures are mailed to (repeat)"},
			serviceKeyFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "scheduler")
			if err != nil {
				return err
			}
			var jobs []scheduler.Job
			for _, s := range c.StringSlice("job") {
				j, err := scheduler.ParseJob(s)
				if err != nil {
					return app.Errorf(app.EINVALID, "%v", err).In("--job")
				}
				jobs = append(jobs, j)
			}
			// The brokers take only callers holding the service key.
			key, err := serviceKey(c)
			if err != nil {
				return err
			}
			m := metrics.New("scheduler")
			cfg := scheduler.Config{Jobs: jobs, Workers: c.StringSlice("worker"), Brokers: c.StringSlice("broker"),
				Topic: c.String("topic"), Transport: key.Transport(nil), Log: log}
			if addr := c.String("mail"); addr != "" {
				cfg.Notify = mail.Notifier{Addr: addr, Password: key.Password(), From: "scheduler@crm.local", To: c.StringSlice("notify")}.Send
			}
			s := scheduler.New(cfg, m.Registry)
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			go s.Run(ctx)
			// Its schedule is for the admin console, which holds the key.
			return serve.Run(c.Context, serve.Config{Role: "scheduler", Listen: c.String("listen"), Handler: key.Require(s.Handler()), Metrics: m, Log: log})
		},
	}
}
