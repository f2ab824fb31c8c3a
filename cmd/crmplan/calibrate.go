package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/hexops/gotextdiff"
	"github.com/hexops/gotextdiff/myers"
	"github.com/hexops/gotextdiff/span"
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
	// Diff is the change to the plan file, unified; empty when the demands
	// already said what was measured.
	Diff string `json:"diff"`
}

func calibrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "calibrate",
		Usage:     "derive per-tier service demands from a verify result and write them into the plan",
		UsageText: "crmplan calibrate --plan FILE [--result FILE] [--dry-run] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Applies the utilization law to a verify result: the CPU a tier used per second divided by
the requests per second it served is its service demand per request (D = U/X). The CPU
the tier used before the load began (verify's --idle-window) is left out first: it does
not grow with the rate, and verify's prediction here adds it back as it was measured. Each
measured tier's per-class demands are scaled to match, and the model's predictions
before and after are shown side by side.

Then each request class's mean, as k6 measured it, is set beside the model's at the
run (its rate, and on the local target the cores other processes left). A class the
model makes slower than measured had too large a share of its tiers' CPU: its demands
are cut, the other classes' raised, each tier's total kept as measured. What a class
spends beyond the model's (round trips, wake-ups, a commit's fsync: time, not CPU) is
written as its workload.delay_ms, a fixed delay the model adds to the class's path.
Calibrate from a run at the plan's rate (verify's default), where little of a mean is
queueing.

Last, the shape of the service times: with the means fitted, the model's end-to-end
p95 at the run is predicted with exponential service times (scv 1) and with Erlang
times of 2 to 16 stages (scv 1/2 to 1/16: the same mean, a shorter tail), and the
scv nearest the measured p95 is written as workload.service_scv. Neither the shape
nor the classes are fitted from a run on a machine 90 % busy or more.

The plan file is edited, not rewritten: only the measured tiers' demand_ms numbers,
workload.delay_ms and workload.service_scv change (a tier that took its role's
defaults gets a demand_ms line, plus the role's ha/min it would otherwise lose);
comments, order and layout stay. The change is printed as a diff; --dry-run prints it without writing.

Examples:
   crmplan verify --plan plan.yaml && crmplan calibrate --plan plan.yaml
   crmplan calibrate --plan plan.yaml --result ~/.crmplan/simplecrm/results/20250101T120000Z.json --dry-run`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "plan file to calibrate (its demand_ms edited in place)", EnvVars: []string{"CRMPLAN_PLAN"}},
			&cli.StringFlag{Name: "result", Usage: "verify result (default: the stack's latest)"},
			&cli.StringFlag{Name: "state-dir", Usage: "where apply keeps stacks (default ~/.crmplan)", EnvVars: []string{"CRMPLAN_STATE_DIR"}},
			&cli.StringFlag{Name: "stack", Usage: "stack name (default: the plan's name)", EnvVars: []string{"CRMPLAN_STACK"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the change as a diff without writing the plan"},
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
			data, err := os.ReadFile(planPath)
			if err != nil {
				return crmplan.Errorf(crmplan.EINVALID, "cannot read plan: %w", err).In("--plan").
					Try("crmplan calibrate --plan examples/simplecrm.yaml --dry-run")
			}
			plan, err := topology.DecodePlan(planPath, data)
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
			edited, err := editDemands(planPath, data, plan, pc)
			if err != nil {
				return err
			}
			cal := calibration{Plan: planPath, Result: resultPath, PlanCalibration: pc, Diff: unifiedDiff(planPath, data, edited)}
			if !c.Bool("dry-run") && cal.Diff != "" {
				if err := writePlanFile(planPath, edited, "--plan", "crmplan calibrate --plan "+planPath+" --dry-run"); err != nil {
					return err
				}
				cal.Wrote = true
			}
			return printCalibration(c.App.Writer, cal, c.String("output"))
		},
	}
}

// editDemands returns the plan file data with the demands of the tiers pc
// measured (CalibratePlan wrote them into plan) edited in.
func editDemands(path string, data []byte, plan *topology.Plan, pc loadgen.PlanCalibration) ([]byte, error) {
	specs := map[int]sizing.TierSpec{}
	for i, t := range pc.Tiers {
		if t.Measured {
			specs[i] = plan.Tiers[i].TierSpec
		}
	}
	out, err := topology.EditDemands(path, data, specs)
	if err != nil {
		return nil, err
	}
	if len(pc.Classes) == 0 {
		return out, nil
	}
	if out, err = topology.EditDelays(path, out, plan.Workload.DelayMs); err != nil || pc.Shape == nil {
		return out, err
	}
	return topology.EditSCV(path, out, plan.Workload.ServiceSCV)
}

// unifiedDiff is the change from before to after as a unified diff of the
// file at path, empty when there is none.
func unifiedDiff(path string, before, after []byte) string {
	a, b := string(before), string(after)
	if a == b {
		return ""
	}
	edits := myers.ComputeEdits(span.URIFromPath(path), a, b)
	return fmt.Sprint(gotextdiff.ToUnified(path, path+" (calibrated)", a, edits))
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
			if t.IdleCPU > 0 {
				demand += fmt.Sprintf(" (idle %.3f cores left out)", t.IdleCPU)
			}
			if t.BackgroundCPU > 0 {
				demand += fmt.Sprintf(" (ETL jobs' %.3f cores left out)", t.BackgroundCPU)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d -> %d\t%.1f %% -> %.1f %%\t%.1f -> %.1f\t%.0f -> %.0f req/s\n",
			t.Role, demand, factor, b.Servers, a.Servers, b.Utilization*100, a.Utilization*100,
			b.PredictedP95Ms, a.PredictedP95Ms, b.SaturationRate, a.SaturationRate)
	}
	fmt.Fprintf(tw, "end to end p95\t\t\t\t\t%.1f -> %.1f ms\t\n", cal.Before.EndToEnd.P95Ms, cal.After.EndToEnd.P95Ms)
	if err := tw.Flush(); err != nil {
		return err
	}
	if cal.ClassesSkipped != "" {
		fmt.Fprintf(w, "\nclasses not fitted: %s\nTry: crmplan verify --plan %s   # again when the machine is quieter, then calibrate\n", cal.ClassesSkipped, cal.Plan)
	}
	if len(cal.Classes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CLASS	measured mean ms	model at the run	after the split	demand	delay ms")
		for _, c := range cal.Classes {
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\tx%.2f\t%.3f\n", c.Class, c.MeasuredMeanMs, c.ModelMeanMs, c.FittedMeanMs, c.Factor, c.DelayMs)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	switch {
	case cal.Shape != nil:
		sh := cal.Shape
		fmt.Fprintf(w, "\nservice scv %.3g (Erlang, %d stages): end to end p95 at the run %.2f ms measured, %.2f ms predicted (exponential: %.2f)\n",
			sh.SCV, sh.Stages, sh.MeasuredP95Ms, sh.FittedP95Ms, sh.ExponentialP95Ms)
	case cal.ShapeSkipped != "":
		fmt.Fprintf(w, "\nservice scv not fitted: %s\n", cal.ShapeSkipped)
	}
	switch {
	case cal.Diff == "":
		fmt.Fprintf(w, "\n%s already has the measured demands: unchanged\n", cal.Plan)
		return nil
	case cal.Wrote:
		fmt.Fprintf(w, "\nedited the calibrated demands into %s (from %s):\n\n", cal.Plan, cal.Result)
	default:
		fmt.Fprintf(w, "\ndry run: %s is unchanged; calibrate would make this change:\n\n", cal.Plan)
	}
	_, err := io.WriteString(w, cal.Diff)
	return err
}
