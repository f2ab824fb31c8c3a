package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/reports"
	"github.com/crmplan/crmplan/reports/chromium"
)

// reportFlags is what `crmplan report` reads from its command line.
type reportFlags struct {
	plan, out, stateDir, stack, chromium, output string
	pdf                                          bool
}

// reportFiles is what report prints with --output json|yaml.
type reportFiles struct {
	reports.Files
	PDF string `json:"pdf,omitempty"`
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "write the capacity report (HTML, Markdown, JSON)",
		UsageText: "crmplan report --plan FILE [--out DIR] [--state-dir DIR] [--pdf] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Writes report.html (one self-contained page: inline CSS and SVG charts, no script and
no external URL, so it opens offline), report.md (for a pull-request comment) and
report.json (every number) into --out, by default <state-dir>/<stack>/reports, and
prints the HTML's path. The report sizes the plan again and reads what apply and
verify left in the state dir; a section whose input is missing says so.

Examples:
   crmplan report --plan examples/simplecrm.yaml
   crmplan report --plan examples/simplecrm.yaml --out ./capacity --pdf`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "plan file (see examples/)", EnvVars: []string{"CRMPLAN_PLAN"}},
			&cli.StringFlag{Name: "out", Usage: "directory for report.html, report.md, report.json (default <state-dir>/<stack>/reports)"},
			&cli.StringFlag{Name: "state-dir", Usage: "where stacks live (default ~/.crmplan)", EnvVars: []string{"CRMPLAN_STATE_DIR"}},
			&cli.StringFlag{Name: "stack", Usage: "stack name (default: the plan's name)", EnvVars: []string{"CRMPLAN_STACK"}},
			&cli.BoolFlag{Name: "pdf", Usage: "also print the HTML to report.pdf with headless Chromium"},
			&cli.StringFlag{Name: "chromium", Usage: "Chromium binary for --pdf (default /usr/bin/chromium, then $PATH)", EnvVars: []string{chromium.EnvPath}},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml", Value: "table", EnvVars: []string{"CRMPLAN_OUTPUT"}},
		},
		Action: func(c *cli.Context) error {
			f := reportFlags{plan: c.String("plan"), out: c.String("out"), stateDir: c.String("state-dir"),
				stack: c.String("stack"), chromium: c.String("chromium"), output: c.String("output"), pdf: c.Bool("pdf")}
			return runReport(c.Context, f, c.App.Writer)
		},
	}
}

func runReport(ctx context.Context, f reportFlags, stdout io.Writer) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	if f.plan == "" {
		return crmplan.Errorf(crmplan.EINVALID, "a plan file is needed").In("--plan").
			Try("crmplan report --plan examples/simplecrm.yaml")
	}
	plan, err := readPlan(f.plan, "size")
	if err != nil {
		return err
	}
	stateDir, err := stateDirFlag(f.stateDir)
	if err != nil {
		return err
	}
	if f.stack == "" {
		f.stack = plan.Name
	}
	var browser chromium.Browser
	if f.pdf { // before the work, so a missing browser fails fast
		if browser, err = chromium.Find(f.chromium); err != nil {
			return err
		}
	}
	in, err := reports.Gather(plan, stateDir, f.stack, time.Now().UTC())
	if err != nil {
		return err
	}
	in.PlanPath = f.plan
	r, err := reports.Build(in)
	if err != nil {
		return err
	}
	if f.out == "" {
		f.out = stackdir.Paths{StateDir: stateDir, Stack: f.stack}.Reports()
	}
	files, err := reports.WriteFiles(f.out, r)
	if err != nil {
		return err
	}
	out := reportFiles{Files: files}
	if f.pdf {
		out.PDF = filepath.Join(f.out, "report.pdf")
		if err := browser.PrintPDF(ctx, files.HTML, out.PDF); err != nil {
			return err
		}
	}
	return printReport(stdout, out, f.output)
}

func printReport(w io.Writer, files reportFiles, format string) error {
	if done, err := encode(w, files, format); done {
		return err
	}
	fmt.Fprintln(w, files.HTML)
	if files.PDF != "" {
		fmt.Fprintln(w, files.PDF)
	}
	return nil
}
