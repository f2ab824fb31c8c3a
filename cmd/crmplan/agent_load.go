package main

import (
	"encoding/json"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// agentLoadCommand is one load generator's share of crmplan verify on a
// loadgen host: the k6 embedded in this binary runs the segment, and the
// report (histograms, counts, CPU) is the unit's output.
func agentLoadCommand(hostDir cli.Flag, host func(*cli.Context) agent.Host) *cli.Command {
	return &cli.Command{
		Name:   "load",
		Usage:  "run the k6 execution segment of stdin's load spec (JSON: script, segment, sequence, start_at, env) and report what it measured as JSON",
		Flags:  []cli.Flag{hostDir},
		Before: requireFlags("host-dir"),
		Action: func(c *cli.Context) error {
			var spec wire.LoadSpec
			if err := json.NewDecoder(c.App.Reader).Decode(&spec); err != nil {
				return crmplan.Errorf(crmplan.EINVALID, "load spec on stdin: %w", err).In("payload")
			}
			rep, err := host(c).Load(c.Context, verifyK6().Command, spec)
			if err != nil {
				return err
			}
			return json.NewEncoder(c.App.Writer).Encode(rep)
		},
	}
}
