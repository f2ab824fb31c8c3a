package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// sizePlan reads --plan (or starts from the SimpleCRM layout) and applies the
// workload flags on top.
func sizePlan(c *cli.Context) (*topology.Plan, error) {
	var plan *topology.Plan
	if path := c.String("plan"); path != "" {
		p, err := readPlan(path, "size")
		if err != nil {
			return nil, err
		}
		plan = p
	} else {
		if !c.IsSet("named-users") {
			return nil, crmplan.Errorf(crmplan.EINVALID, "a workload is needed: give --plan or --named-users").
				In("--named-users").Try("crmplan size --named-users 3000 --concurrency 60%% --tpm 5 --records 25M")
		}
		plan = topology.NewPlan(c.String("name"), sizing.Workload{Concurrency: 1, TPM: 5})
	}
	w := &plan.Workload
	for _, f := range []struct {
		flag  string
		parse func(string) error
	}{
		{"named-users", func(s string) error { n, err := topology.ParseCount(s); w.NamedUsers = int(n); return err }},
		{"concurrency", func(s string) (err error) { w.Concurrency, err = topology.ParseShare(s); return err }},
		{"tpm", func(s string) (err error) { w.TPM, err = strconv.ParseFloat(s, 64); return err }},
		{"records", func(s string) (err error) { w.Records, err = topology.ParseCount(s); return err }},
		{"peak-factor", func(s string) (err error) { w.PeakFactor, err = strconv.ParseFloat(s, 64); return err }},
		{"growth", func(s string) (err error) { w.Growth, err = topology.ParseShare(s); return err }},
		{"years", func(s string) (err error) { w.Years, err = strconv.Atoi(s); return err }},
	} {
		if !c.IsSet(f.flag) {
			continue
		}
		if err := f.parse(c.String(f.flag)); err != nil {
			msg := plainErr(err)
			if !strings.Contains(msg, c.String(f.flag)) {
				msg = fmt.Sprintf("%q: %s", c.String(f.flag), msg)
			}
			return nil, crmplan.Errorf(crmplan.EINVALID, "%s", msg).
				In("--" + f.flag).Try("crmplan size --named-users 3000 --concurrency 60%% --tpm 5 --records 25M")
		}
	}
	if c.Bool("loadgen") {
		plan.AddLoadgen()
	}
	if err := plan.Validate(); err != nil {
		return nil, blameFlag(c, err)
	}
	return plan, nil
}

// blameFlag points a validation error at the flag the user typed, when a flag
// (not the plan file) supplied the bad value, so the hint is a command to run
// rather than a line to edit.
func blameFlag(c *cli.Context, err error) error {
	var e *crmplan.Error
	if !errors.As(err, &e) {
		return err
	}
	workloadFlags := map[string]string{
		"workload.named_users": "named-users", "workload.concurrency": "concurrency", "workload.tpm": "tpm",
		"workload.records": "records", "workload.peak_factor": "peak-factor", "workload.growth": "growth",
		"workload.years": "years",
	}
	for field, flag := range workloadFlags {
		if strings.HasSuffix(e.Field, field) && c.IsSet(flag) {
			return crmplan.Errorf(e.Code, "%s", e.Message).In("--" + flag).
				Try("crmplan size --named-users 3000 --concurrency 60%% --tpm 5 --records 25M")
		}
	}
	return err
}

// plainErr drops strconv's "strconv.ParseFloat: parsing ..." prefix, which
// means nothing to a planner.
func plainErr(err error) string {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err.Error()
	}
	return err.Error()
}
