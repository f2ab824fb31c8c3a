package main

import (
	"net"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/watchdog"
)

// watchdogCommand is what apply runs, under a supervisor, on the first
// replica's host of a plan with failover: automatic.
func watchdogCommand() *cli.Command {
	return &cli.Command{
		Name:  "watchdog",
		Usage: "probe the primary; after failed probes fence it and promote a replica (started by apply)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Required: true},
			&cli.StringFlag{Name: "stack", Required: true},
			&cli.StringFlag{Name: "primary", Required: true, Usage: "NAME=HOSTDIR of the primary (NAME only with --guard)"},
			&cli.StringSliceFlag{Name: "replica", Required: true, Usage: "NAME=HOSTDIR of a replica it may promote (repeat)"},
			&cli.BoolFlag{Name: "sync", Usage: "replication is synchronous"},
			&cli.DurationFlag{Name: "interval", Value: watchdog.DefaultProbeInterval, Usage: "time between probes"},
			&cli.IntFlag{Name: "probes", Value: watchdog.DefaultProbes, Usage: "failed probes in a row that declare the primary lost"},
			&cli.StringFlag{Name: "guard", Usage: "HOST:PORT of the primary's lease guard: fence through it (the primary's files are on another machine)"},
			&cli.DurationFlag{Name: "lease", Value: watchdog.DefaultLease, Usage: "the guard's lease"},
			&cli.StringFlag{Name: "lease-secret-file", Usage: "the stack's lease secret (hex), with --guard"},
			&cli.StringFlag{Name: "record", Usage: "where to record the promotion (default: the stack's failover.json)"},
		},
		Action: func(c *cli.Context) error {
			cfg := watchdog.Config{
				Paths:   stackdir.Paths{StateDir: c.String("state-dir"), Stack: c.String("stack")},
				Primary: c.String("primary"), Replicas: c.StringSlice("replica"), Sync: c.Bool("sync"),
				Interval: c.Duration("interval"), Probes: c.Int("probes"), Record: c.String("record"),
			}
			if g := c.String("guard"); g != "" {
				secret, err := watchdog.ReadLeaseSecret(c.String("lease-secret-file"))
				if err != nil {
					return crmplan.Errorf(crmplan.EINVALID, "%w", err).In("--lease-secret-file")
				}
				cfg.Lease = &watchdog.Lease{Guard: g, Secret: secret, Duration: c.Duration("lease")}
			}
			return watchdog.Run(c.Context, cfg, c.App.ErrWriter)
		},
	}
}

// guardCommand is the lease guard that apply runs, under a supervisor, on
// the primary's host of a plan with failover: automatic on the ssh target.
func guardCommand() *cli.Command {
	return &cli.Command{
		Name:  "guard",
		Usage: "hold the primary's lease: fence its PostgreSQL when the watchdog stops renewing it or asks (started by apply)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "host-dir", Required: true, Usage: "the primary's host directory"},
			&cli.StringFlag{Name: "stack", Required: true},
			&cli.StringFlag{Name: "listen", Required: true, Usage: "HOST:PORT the watchdog renews the lease at"},
			&cli.DurationFlag{Name: "lease", Value: watchdog.DefaultLease, Usage: "how long a renewal keeps the primary"},
			&cli.StringFlag{Name: "lease-secret-file", Required: true, Usage: "the stack's lease secret (hex)"},
		},
		Action: func(c *cli.Context) error {
			secret, err := watchdog.ReadLeaseSecret(c.String("lease-secret-file"))
			if err != nil {
				return crmplan.Errorf(crmplan.EINVALID, "%w", err).In("--lease-secret-file")
			}
			ln, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return crmplan.Errorf(crmplan.EUNAVAILABLE, "%w", err).In("--listen")
			}
			g := &watchdog.Guard{HostDir: c.String("host-dir"), Stack: c.String("stack"), Secret: secret,
				Lease: c.Duration("lease"), Log: c.App.ErrWriter}
			return g.Serve(c.Context, ln)
		},
	}
}
