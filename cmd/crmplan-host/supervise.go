package main

import (
	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision/supervise"
)

// superviseCommand is the hidden supervisor that apply starts for every
// host process: it runs in its own session and restarts its program.
func superviseCommand() *cli.Command {
	return &cli.Command{
		Name:  "supervise",
		Usage: "run one host process and restart it when it exits (started by apply)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "spec", Required: true}},
		Action: func(c *cli.Context) error {
			return supervise.Run(c.Context, c.String("spec"), c.App.ErrWriter)
		},
	}
}
