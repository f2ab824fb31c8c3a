package main

import (
	"encoding/json"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// agentProbeCommand is crmplan probe's work on a host: TCP connects from
// inside it.
func agentProbeCommand(hostDir cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "probe",
		Usage: "try a TCP connection from the host to each address of stdin's probe (JSON: addrs, timeout_ms) and report what each met as JSON",
		Flags: []cli.Flag{hostDir},
		Action: func(c *cli.Context) error {
			var p wire.Probe
			if err := json.NewDecoder(c.App.Reader).Decode(&p); err != nil {
				return crmplan.Errorf(crmplan.EINVALID, "probe on stdin: %w", err).In("payload")
			}
			return writeJSON(c.App.Writer, agent.Probe(p))
		},
	}
}
