package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/topology"
)

func previewCommand() *cli.Command {
	return &cli.Command{
		Name:      "preview",
		Usage:     "show what apply would change (Pulumi preview)",
		UsageText: "crmplan preview --plan FILE [--state-dir DIR] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Runs a Pulumi preview of the local deployment (after refreshing the stack's state from
the running hosts) and prints a line per resource: + create, ~ update, +- replace,
- delete, or same. Nothing changes.

Then it prices the plan: the monthly cost of every tier and in total, and the change
against what the stack has deployed, a line per host that is added, removed or moved to
another instance type ("+ $140/month: api-3 m6i.xlarge"). Prices come from the plan's
prices: section or the shipped table, instance types from the plan's instance: or the
ones the report prices: what the hosts would cost in the cloud, whatever the target.

With --target aws (and apply's aws flags) it previews the pulumi-aws program instead;
that needs AWS credentials and the aws provider plugin.

Examples:
   crmplan preview --plan examples/simplecrm.yaml
   crmplan preview --plan examples/simplecrm.yaml --output json`),
		Flags: append(append(deployFlags(),
			&cli.StringFlag{Name: "records", Usage: "records apply would seed (1000, 25M, or full: the plan's workload.records)", Value: "1000"},
			&cli.IntFlag{Name: "users", Usage: "sales reps apply would seed", Value: 10},
			isolateFlag(),
		), targetFlags()...),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, true)
			if err != nil {
				return err
			}
			if onAWS, err := awsTarget(c); err != nil || onAWS {
				if err != nil {
					return err
				}
				return runAWS(c, req, format, true)
			}
			plan, err := readPlan(c.String("plan"), "preview")
			if err != nil {
				return err
			}
			l, err := topology.Lay(plan)
			if err != nil {
				return err
			}
			cost, err := planCost(l, req.StateDir, req.Stack)
			if err != nil {
				return err
			}
			changes, err := provision.Preview(c.Context, req)
			if err != nil {
				return err
			}
			out := struct {
				Stack   string              `json:"stack" yaml:"stack"`
				Changes map[string]int      `json:"changes" yaml:"changes"`
				Changed bool                `json:"changed" yaml:"changed"`
				Cost    topology.CostChange `json:"cost" yaml:"cost"`
			}{req.Stack, changes, provision.Changed(changes), cost}
			if done, err := encode(c.App.Writer, out, format); done {
				return err
			}
			printCost(c.App.Writer, cost)
			return nil
		},
	}
}
