package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// sweep runs a what-if over one workload axis and prints how servers and
// predicted latency change.
func sweep(w io.Writer, plan *topology.Plan, spec, format string) error {
	axis, from, to, step, err := parseSweep(spec)
	if err != nil {
		return err
	}
	points, err := sizing.Sweep(plan.Model(), axis, from, to, step)
	if err != nil {
		return err
	}
	if done, err := encode(w, sweepResult{Plan: plan.Name, Axis: axis, Points: points}, format); done {
		return err
	}
	if len(points) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{strings.ToUpper(axis), "REQ/s"}
	for _, t := range points[0].Tiers {
		header = append(header, t.Role)
	}
	header = append(header, "P95 ms", "SLO")
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, p := range points {
		row := []string{strconv.FormatFloat(p.Value, 'f', -1, 64), fmt.Sprintf("%.1f", p.Workload.DesignRate)}
		for _, t := range p.Tiers {
			row = append(row, strconv.Itoa(t.Servers))
		}
		ok := "ok"
		if !p.MeetsSLO {
			ok = "MISS"
		}
		row = append(row, fmt.Sprintf("%.1f", p.EndToEnd.P95Ms), ok)
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

// parseSweep reads "named-users=1000:30000:1000".
func parseSweep(spec string) (axis string, from, to, step float64, err error) {
	bad := func(why string) error {
		return crmplan.Errorf(crmplan.EINVALID, "%q: %s", spec, why).In("--sweep").
			Try("crmplan size --plan examples/simplecrm.yaml --sweep named-users=1000:30000:1000")
	}
	axis, rng, ok := strings.Cut(spec, "=")
	if !ok {
		return "", 0, 0, 0, bad("want AXIS=FROM:TO:STEP")
	}
	parts := strings.Split(rng, ":")
	if len(parts) != 3 {
		return "", 0, 0, 0, bad("want FROM:TO:STEP after the =")
	}
	var nums [3]float64
	for i, s := range parts {
		if axis == "concurrency" {
			nums[i], err = topology.ParseShare(s)
		} else {
			var n int64
			n, err = topology.ParseCount(s)
			nums[i] = float64(n)
			if axis == "tpm" {
				nums[i], err = strconv.ParseFloat(s, 64)
			}
		}
		if err != nil {
			return "", 0, 0, 0, bad(fmt.Sprintf("%q is not a number", s))
		}
	}
	return axis, nums[0], nums[1], nums[2], nil
}
