package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision"
)

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "prove the network policy: a TCP connect from inside every host to every other host on every port the topology knows",
		UsageText: "crmplan probe (--plan FILE | --stack NAME with --plan for the links) [--state-dir DIR] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
For every ordered pair of hosts and every port the topology knows (its links' and its
hosts' service ports; not the mesh's), the source host's agent tries a TCP connection, as a
work unit through the mesh, so from inside the host's network (its namespace on an isolated
stack). A connection that was accepted (open) or reset (refused: nothing listens, but the
network let it through) reached the host; one refused by the router or unanswered was
denied. The matrix shows planned (the plan's links) against measured; probe exits 1 on any
difference.

Only an isolated stack (crmplan apply --isolate) enforces the links. On the loopback
target every host shares this machine's network, so every pair gets through and each one
no link allows is reported as a difference: that is what the loopback target is.

Examples:
   crmplan probe --plan examples/simplecrm.yaml
   crmplan probe --plan examples/simplecrm.yaml --output json`),
		Flags: deployFlags(),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, true)
			if err != nil {
				return err
			}
			pm, err := provision.Probe(c.Context, req.StateDir, req.Stack, req.Topology.Links)
			if err != nil {
				return err
			}
			if done, err := encode(c.App.Writer, pm, format); !done {
				err = printProbe(c.App.Writer, pm)
				if err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			if pm.Differences > 0 {
				e := crmplan.Errorf(crmplan.ECONFLICT, "%d of %d probes differ from the plan's links", pm.Differences, len(pm.Cells))
				if pm.Target != "netns" {
					return e.Try("crmplan apply --isolate --plan PLAN.yaml   # the %s target does not enforce links", orDash(pm.Target))
				}
				return e.Try("crmplan apply --plan PLAN.yaml   # writes the policy again")
			}
			return nil
		},
	}
}

func printProbe(w io.Writer, pm provision.ProbeMatrix) error {
	fmt.Fprintf(w, "stack %s (target %s), ports %v\n\n", pm.Stack, orDash(pm.Target), pm.Ports)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tPORT\tPLANNED\tMEASURED\t")
	for _, c := range pm.Cells {
		planned := "denied"
		if c.Planned {
			planned = "allowed"
		}
		mark := ""
		if !c.Match {
			mark = "DIFFERS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", c.From, c.To, c.Port, planned, c.Measured, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d probes, %d differ from the plan\n", len(pm.Cells), pm.Differences)
	return nil
}
