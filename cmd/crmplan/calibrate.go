package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// calibration is the JSON/YAML output of `crmplan calibrate`: plan,
// result, tiers, before, after, wrote, in that order.
type calibration struct {
	Plan   string `json:"plan"`
	Result string `json:"result"`
	loadgen.PlanCalibration
	Wrote bool `json:"wrote"`
}

func calibrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "calibrate",
		Usage:     "derive per-tier service demands from a verify result and write them into the plan",
		UsageText: "crmplan calibrate --plan FILE [--result FILE] [--dry-run] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Applies the utilization law to a verify result: the CPU a tier used per second divided by
the requests per second it served is its service demand per request (D = U/X). Each
measured tier's per-class demands are scaled to match, the plan is rewritten, and the
model's predictions before and after are shown side by side.

Examples:
   crmplan verify --plan plan.yaml && crmplan calibrate --plan plan.yaml
   crmplan calibrate --plan plan.yaml --result ~/.crmplan/simplecrm/results/20250101T120000Z.json --dry-run`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "plan file to calibrate (rewritten in place)", EnvVars: []string{"CRMPLAN_PLAN"}},
			&cli.StringFlag{Name: "result", Usage: "verify result (default: the stack's latest)"},
			&cli.StringFlag{Name: "state-dir", Usage: "where apply keeps stacks (default ~/.crmplan)", EnvVars: []string{"CRMPLAN_STATE_DIR"}},
			&cli.StringFlag{Name: "stack", Usage: "stack name (default: the plan's name)", EnvVars: []string{"CRMPLAN_STACK"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "show the change without writing the plan"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml", Value: "table"},
		},
		Action: func(c *cli.Context) error {
			if err := checkOutput(c.String("output")); err != nil {
				return err
			}
			planPath := c.String("plan")
			if planPath == "" {
				return crmplan.Errorf(crmplan.EINVALID, "a plan file is required").
					In("--plan").Try("crmplan calibrate --plan plan.yaml")
			}
			plan, err := readPlan(planPath, "size")
			if err != nil {
				return err
			}
			resultPath, err := calibrateResultPath(c, plan)
			if err != nil {
				return err
			}
			res, err := loadgen.LoadResult(resultPath)
			if err != nil {
				return err
			}
			pc, err := loadgen.CalibratePlan(plan, res)
			if err != nil {
				return err
			}
			cal := calibration{Plan: planPath, Result: resultPath, PlanCalibration: pc}
			if !c.Bool("dry-run") {
				if err := writePlan(planPath, plan); err != nil {
					return err
				}
				cal.Wrote = true
			}
			return printCalibration(c.App.Writer, cal, c.String("output"))
		},
	}
}

func calibrateResultPath(c *cli.Context, plan *topology.Plan) (string, error) {
	if p := c.String("result"); p != "" {
		return p, nil
	}
	stateDir, err := stateDirFlag(c.String("state-dir"))
	if err != nil {
		return "", err
	}
	stack := c.String("stack")
	if stack == "" {
		stack = plan.Name
	}
	return stackdir.Paths{StateDir: stateDir, Stack: stack}.LatestResult(), nil
}

func printCalibration(w io.Writer, cal calibration, format string) error {
	if done, err := encode(w, cal, format); done {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIER\tdemand ms (model -> measured)\tfactor\tservers\tutilization\tp95 ms\tsaturates at")
	before, after := map[string]sizing.TierEstimate{}, map[string]sizing.TierEstimate{}
	for _, t := range cal.Before.Tiers {
		before[t.Role] = t
	}
	for _, t := range cal.After.Tiers {
		after[t.Role] = t
	}
	for _, t := range cal.Tiers {
		b, a := before[t.Role], after[t.Role]
		demand, factor := fmt.Sprintf("%.2f (not measured)", t.ModelDemandMs), "-"
		if t.Measured {
			demand, factor = fmt.Sprintf("%.2f -> %.2f", t.ModelDemandMs, t.MeasuredDemandMs), fmt.Sprintf("x%.2f", t.Factor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d -> %d\t%.1f %% -> %.1f %%\t%.1f -> %.1f\t%.0f -> %.0f req/s\n",
			t.Role, demand, factor, b.Servers, a.Servers, b.Utilization*100, a.Utilization*100,
			b.PredictedP95Ms, a.PredictedP95Ms, b.SaturationRate, a.SaturationRate)
	}
	fmt.Fprintf(tw, "end to end p95\t\t\t\t\t%.1f -> %.1f ms\t\n", cal.Before.EndToEnd.P95Ms, cal.After.EndToEnd.P95Ms)
	if err := tw.Flush(); err != nil {
		return err
	}
	if cal.Wrote {
		fmt.Fprintf(w, "\nwrote the calibrated demands into %s (from %s)\n", cal.Plan, cal.Result)
	} else {
		fmt.Fprintf(w, "\ndry run: %s is unchanged\n", cal.Plan)
	}
	return nil
}
