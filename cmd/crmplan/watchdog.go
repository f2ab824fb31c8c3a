package main

import (
	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/watchdog"
)

// watchdogCommand is what apply runs, under a supervisor, on the first
// replica's host of a plan with failover: automatic.
func watchdogCommand() *cli.Command {
	return &cli.Command{
		Name:   "watchdog",
		Hidden: true,
		Usage:  "probe the primary; after failed probes fence it and promote a replica (started by apply)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Required: true},
			&cli.StringFlag{Name: "stack", Required: true},
			&cli.StringFlag{Name: "primary", Required: true, Usage: "NAME=HOSTDIR of the primary"},
			&cli.StringSliceFlag{Name: "replica", Required: true, Usage: "NAME=HOSTDIR of a replica it may promote (repeat)"},
			&cli.BoolFlag{Name: "sync", Usage: "replication is synchronous"},
			&cli.DurationFlag{Name: "interval", Value: watchdog.DefaultProbeInterval, Usage: "time between probes"},
			&cli.IntFlag{Name: "probes", Value: watchdog.DefaultProbes, Usage: "failed probes in a row that declare the primary lost"},
		},
		Action: func(c *cli.Context) error {
			return watchdog.Run(c.Context, watchdog.Config{
				Paths:   stackdir.Paths{StateDir: c.String("state-dir"), Stack: c.String("stack")},
				Primary: c.String("primary"), Replicas: c.StringSlice("replica"), Sync: c.Bool("sync"),
				Interval: c.Duration("interval"), Probes: c.Int("probes"),
			}, c.App.ErrWriter)
		},
	}
}
