package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/crmplan/crmplan/sizing"
)

// WriteSummary prints a run for a person: the rate, latency per class,
// errors, and per tier the predicted next to the measured utilization. est is
// the model's estimate at the run's rate and may be nil (a target crmplan
// did not plan).
func WriteSummary(w io.Writer, res Result, est *sizing.Estimate) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	p("RATE\ttarget\tachieved\trequests\tfailed\tdropped")
	p("\t%.1f/s\t%.2f/s\t%d\t%d (%.2f %%)\t%d", res.TargetRate, res.AchievedRate, res.Requests,
		res.Failed, res.ErrorRate*100, res.Dropped)
	if len(res.Generators) > 0 {
		p("")
		writeGenerators(p, res)
	}
	p("")
	here := res.Predicted
	predP95, predMean := "-", "-"
	if est != nil && !est.EndToEnd.Unbounded {
		predP95, predMean = fmt.Sprintf("%.1f", est.EndToEnd.P95Ms), fmt.Sprintf("%.1f", est.EndToEnd.MeanMs)
	}
	if here == nil {
		p("LATENCY (ms)\tpredicted\tmeasured\tSLO")
		p("p95\t%s\t%.1f\t< %g", predP95, res.Latency.P95Ms, res.SLO.P95Ms)
		p("mean\t%s\t%.1f\t", predMean, res.Latency.MeanMs)
	} else {
		// Production is the plan's servers; here is the hardware the stack
		// runs on, the figure the measurement can be held to.
		p("LATENCY (ms)\tpredicted (plan's servers)\tpredicted here\tmeasured\tSLO")
		p("p95\t%s\t%s\t%.1f\t< %g", predP95, predictedMs(here, here.P95Ms), res.Latency.P95Ms, res.SLO.P95Ms)
		p("mean\t%s\t%s\t%.1f\t", predMean, predictedMs(here, here.MeanMs), res.Latency.MeanMs)
	}
	p("")
	if here == nil {
		p("CLASS\trequests\tfailed\tp50 ms\tp95 ms\tp99 ms\tSLO p95")
	} else {
		p("CLASS\trequests\tfailed\tp50 ms\tp95 ms\tp99 ms\tSLO p95\tpredicted here mean/p95 ms")
	}
	for _, c := range classNames(res.ByClass) {
		r := res.ByClass[c]
		row := fmt.Sprintf("%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s", c, r.Requests, r.Failed, r.Latency.P50Ms, r.Latency.P95Ms, r.Latency.P99Ms,
			classSLOCell(res.SLO, c))
		if here != nil {
			pc, ok := here.ByClass[c]
			pred := "-"
			if ok && !here.Unbounded {
				pred = fmt.Sprintf("%.1f / %.1f", pc.MeanMs, pc.P95Ms)
			}
			row += "\t" + pred
		}
		p("%s", row)
	}
	if len(res.Errors) > 0 {
		p("")
		p("ERRORS\tcount")
		for _, k := range sortedKeys(res.Errors) {
			p("%s\t%d", k, res.Errors[k])
		}
	}
	p("")
	p("TIER\thosts\tpredicted util\tmeasured util\tthroughput\tserver mean ms")
	for _, row := range tierRows(res, est) {
		p("%s", strings.Join(row, "\t"))
	}
	if len(res.Background) > 0 || res.BackgroundError != "" {
		p("")
		writeBackground(p, res)
	}
	if a := res.Availability; a != nil {
		p("")
		writeAvailability(p, *a)
	}
	if here != nil {
		p("")
		hw := ""
		if h := here.Hardware(); h != "" {
			hw = ", " + h
		}
		p("predicted here (%s at %.1f req/s%s): %s", here.Model, here.Rate, hw, here.Why)
		if m := res.Machine; m != nil {
			p("this machine: %.2f of %d cores busy in the steady phase, %.2f of them other processes' (%.2f before the load)",
				m.Busy, m.Cores, m.Other, m.IdleOther)
		}
	}
	p("")
	if res.SLO.Passed {
		p("SLO passed: p95 < %g ms%s and errors < %g %%", res.SLO.P95Ms, ownObjectives(res.SLO), res.SLO.ErrorRate*100)
	} else {
		if failed := res.SLO.FailedClasses(); len(failed) > 0 {
			var parts []string
			for _, c := range failed {
				v := res.SLO.Classes[c]
				parts = append(parts, fmt.Sprintf("%s (p95 %.1f ms, objective < %g ms)", c, v.MeasuredP95Ms, v.P95Ms))
			}
			p("SLO FAILED for class %s", strings.Join(parts, ", "))
		}
		p("SLO FAILED: %s", strings.Join(res.SLO.Violations, "; "))
	}
	return tw.Flush()
}

// classSLOCell is a class's objective and verdict: "< 1000 ok", "< 500 FAILED".
func classSLOCell(s SLOResult, class string) string {
	v, ok := s.Classes[class]
	if !ok {
		return "-"
	}
	if v.Passed {
		return fmt.Sprintf("< %g ok", v.P95Ms)
	}
	return fmt.Sprintf("< %g FAILED", v.P95Ms)
}

// ownObjectives lists the classes with an objective of their own:
// " (report < 1000 ms)".
func ownObjectives(s SLOResult) string {
	var parts []string
	for _, c := range classNames(s.Classes) {
		if v := s.Classes[c]; v.Own {
			parts = append(parts, fmt.Sprintf("%s < %g ms", c, v.P95Ms))
		}
	}
	switch {
	case len(s.Classes) == 0:
		return "" // a result from before the classes were judged
	case len(parts) == 0:
		return ", every class too"
	}
	return " (" + strings.Join(parts, ", ") + "; every other class < " + fmt.Sprint(s.P95Ms) + " ms)"
}

// writeBackground lists the background classes that ran beside the
// requests (the ETL jobs) and the CPU each used alone, by tier: the part
// of the measured utilization above that is not the requests'.
func writeBackground(p func(string, ...any), res Result) {
	p("BACKGROUND\tjobs/s\trows/job\tsubmitted\tfailed\tloaded\tjob errors\tCPU alone (cores)")
	for _, b := range res.Background {
		var cpu []string
		for _, role := range slices.Sorted(maps.Keys(b.CPU)) {
			cpu = append(cpu, fmt.Sprintf("%s %.3f", role, b.CPU[role]))
		}
		alone := strings.Join(cpu, ", ")
		if alone == "" {
			alone = "not measured (--etl-window 0)"
		}
		p("%s\t%.2f/s\t%d\t%d\t%d\t%d\t%d\t%s", b.Class, b.Rate, b.Rows, b.Submitted, b.Failed, b.Done, b.JobErrors, alone)
	}
	if res.BackgroundError != "" {
		p("etl\tnot run: %s", res.BackgroundError)
	}
}

// writeGenerators lists each generator's share of the total: what it
// achieved, dropped and burnt, and when it started after the first.
func writeGenerators(p func(string, ...any), res Result) {
	p("GENERATOR	segment	achieved	requests	dropped	CPU cores	started")
	for _, g := range res.Generators {
		if g.Error != "" {
			p("%s	%s	LOST	-	-	-	%s", g.Host, g.Segment, g.Error)
			continue
		}
		p("%s	%s	%.2f/s	%d	%d	%.3f	+%.1f ms", g.Host, g.Segment, g.AchievedRate, g.Requests, g.Dropped, g.CPU, g.StartOffsetMs)
	}
	p("total		%.2f/s	%d	%d	%.3f	skew %.1f ms", res.AchievedRate, res.Requests, res.Dropped, res.GeneratorCPU, res.StartSkewMs)
}

// WriteFindMax prints a find-max run for a person: each rate tried and
// whether it held, then the measured maximum next to the model's predicted
// saturation when the run had one.
func WriteFindMax(w io.Writer, res FindMaxResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RATE\tachieved\tp95 ms\terrors\tdropped\t")
	for _, s := range res.Steps {
		verdict := "held"
		if !s.Passed {
			verdict = "broke: " + strings.Join(s.Why, "; ")
		}
		fmt.Fprintf(tw, "%.1f/s\t%.1f/s\t%.1f\t%.2f %%\t%d\t%s\n", s.Rate, s.AchievedRate, s.P95Ms, s.ErrorRate*100, s.Dropped, verdict)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "measured max\t%.1f req/s\n", res.MaxRate)
	if res.PredictedSaturation > 0 {
		fmt.Fprintf(tw, "predicted saturation\t%.1f req/s (the sizing model's first tier at 100 %%, on the plan's servers)\n", res.PredictedSaturation)
	}
	if res.PredictedSaturationHere > 0 {
		hw := "every host and k6 on this machine's cores"
		if res.Best != nil {
			if h := res.Best.Predicted.Hardware(); h != "" {
				hw += ", " + h + " in the best step"
			}
		}
		fmt.Fprintf(tw, "predicted here\t%.1f req/s (%s)\n", res.PredictedSaturationHere, hw)
	}
	if u := res.USL; u != nil && u.PeakX > 0 {
		fmt.Fprintf(tw, "USL peak\t%.1f req/s (fitted to the steps)\n", u.PeakX)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if u := res.USL; u != nil {
		_, err := fmt.Fprintf(w, "\nUSL: %s\n", u)
		return err
	}
	return nil
}

// predictedMs formats a predicted latency, "-" when the prediction is
// unbounded (a tier overloaded at its rate).
func predictedMs(pr *Prediction, ms float64) string {
	if pr.Unbounded {
		return "-"
	}
	return fmt.Sprintf("%.1f", ms)
}

// tierRows lists the plan's tiers in the model's order, then tiers only the
// measurement knows. A tier without a figure shows "-".
func tierRows(res Result, est *sizing.Estimate) [][]string {
	measured := map[string]TierMeasurement{}
	for _, t := range res.Tiers {
		measured[t.Role] = t
	}
	var rows [][]string
	seen := map[string]bool{}
	row := func(role string, hosts int, pred string) {
		seen[role] = true
		m, ok := measured[role]
		if !ok {
			rows = append(rows, []string{role, fmt.Sprint(hosts), pred, "-", "-", "-"})
			return
		}
		// A host read from /proc (PostgreSQL) has CPU but no request counts.
		mean, throughput := "-", "-"
		if m.MeanMs > 0 {
			mean = fmt.Sprintf("%.2f", m.MeanMs)
		}
		if m.Throughput > 0 {
			throughput = fmt.Sprintf("%.1f/s", m.Throughput)
		}
		rows = append(rows, []string{role, fmt.Sprint(m.Hosts), pred,
			fmt.Sprintf("%.1f %%", m.Utilization*100), throughput, mean})
	}
	if est != nil {
		for _, t := range est.Tiers {
			row(t.Role, t.Servers, fmt.Sprintf("%.1f %%", t.Utilization*100))
		}
	}
	for _, t := range res.Tiers {
		if !seen[t.Role] {
			row(t.Role, t.Hosts, "-")
		}
	}
	return rows
}

// classNames orders classes as sizing does, then any others by name.
func classNames[V any](m map[string]V) []string {
	var out []string
	for _, c := range sizing.Classes() {
		if _, ok := m[string(c)]; ok {
			out = append(out, string(c))
		}
	}
	var rest []string
	for c := range m {
		if !knownClass(sizing.Class(c)) {
			rest = append(rest, c)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeAvailability prints a chaos run's faults, what each cost, and the
// write ledger's verdict.
func writeAvailability(p func(string, ...any), a Availability) {
	p("FAULT	host	at s	failed	failing seconds	RTO	lost writes")
	for _, f := range a.Faults {
		if f.Error != "" {
			p("%s	%s	%.1f	not injected: %s			", f.Fault, orDash(f.Host), f.AtS, f.Error)
			continue
		}
		var failed []string
		for _, c := range sortedKeys(f.Failed) {
			failed = append(failed, fmt.Sprintf("%s %d", c, f.Failed[c]))
		}
		rto := fmt.Sprintf("%.1f s", f.RTOS)
		if !f.Recovered {
			rto = "not recovered"
		}
		lost := "-"
		if a.Ledger.Checked {
			lost = fmt.Sprint(f.LostWrites)
		}
		p("%s	%s	%.1f	%s	%s	%s	%s", f.Fault, f.Host, f.AtS, orDash(strings.Join(failed, ", ")), orDash(SecondsText(f.FailedSeconds)), rto, lost)
	}
	// The SLO verdict below counts every failure; say which the faults explain.
	p("failed requests in fault windows (from a fault to the next): %d; outside them: %d", a.FailedInFaults, a.FailedOutside)
	var byMethod []string
	for _, m := range sortedKeys(a.FailedByMethod) {
		byMethod = append(byMethod, fmt.Sprintf("%s %d", m, a.FailedByMethod[m]))
	}
	p("failed requests by method: %s", orDash(strings.Join(byMethod, ", ")))
	l := a.Ledger
	if l.Checked {
		p("write ledger: %d acknowledged creates, %d lost (RPO %d writes)", l.Acked, l.Lost, l.Lost)
	} else {
		p("write ledger: %d acknowledged creates, not checked: %s", l.Acked, l.Note)
	}
}

// SecondsText shows seconds of a run as ranges: 21-23, 40 ("" for none).
func SecondsText(secs []int) string {
	var parts []string
	for i := 0; i < len(secs); {
		j := i
		for j+1 < len(secs) && secs[j+1] == secs[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(secs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", secs[i], secs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
