package main

import (
	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision/mesh/agent"
)

// agentKillCommand is crmplan verify --chaos kill:HOST@T's work on the
// host: everything its supervisors run dies at once, as in a power loss.
func agentKillCommand(hostDir cli.Flag, host func(*cli.Context) agent.Host) *cli.Command {
	return &cli.Command{
		Name:   "kill",
		Usage:  "kill -9 every process the host's supervisors run (the supervisors first) and report what was killed as JSON",
		Flags:  []cli.Flag{hostDir},
		Before: requireFlags("host-dir"),
		Action: func(c *cli.Context) error { return writeJSON(c.App.Writer, host(c).Kill()) },
	}
}
