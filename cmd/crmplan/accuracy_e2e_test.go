package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/loadgen"
)

// BenchmarkModelAccuracy holds the model to what seeds 000 and 001 measure
// on the local target (issue 18's goals): apply, a warm-up verify, verify
// at the plan's rate, one calibrate, then verify at the plan's rate, 2x and 4x it and
// find-max, printing "predicted here" against measured for each run: mean
// and p95 end to end and per class, utilization per tier, saturation and
// the USL peak against the measured maximum. The metrics are the worst
// relative errors, in percent. Other load on the machine counts against
// the model: note the load average printed with each run.
//
//	make model-accuracy   # or:
//	go test ./cmd/crmplan -run '^$' -bench ModelAccuracy -benchtime 1x -timeout 60m -v
//
// With CRMPLAN_ACCURACY_KEEP=DIR it keeps, in DIR/SEED, the calibrated
// plan and every verify's, calibrate's and find-max's JSON (keepDir).
//
// With CRMPLAN_ACCURACY_REPEAT=N it verifies N times at each rate and
// judges the model against the median of the N measurements (each run's
// own comparison is logged too, and the spread between them). On seed 001
// three 30 s runs at 1x agreed within 4 % (mean and p95), at 2x the p95s
// within 10 % and the means within 25 %: at 2x one run is not enough to
// judge ±15 % by.
func BenchmarkModelAccuracy(b *testing.B) {
	for _, seed := range []string{"simplecrm", "longjump"} {
		b.Run(seed, func(b *testing.B) {
			e := newDeployEnv(b)
			if seed != "simplecrm" {
				b.Cleanup(func() { _, _ = e.exec("destroy", "--stack", seed, "--yes") })
			}
			plan := examplePlan(b, seed)
			if out, err := e.exec("apply", "--plan", plan, "--yes", "--records", "1000"); err != nil {
				b.Fatalf("apply: %v\n%s", err, tail(out, 4000))
			}
			for b.Loop() {
				modelAccuracy(b, e, plan, keepDir(b, seed))
			}
		})
	}
}

// keepDir is the directory a run's outputs are kept in for the seed, under
// CRMPLAN_ACCURACY_KEEP: the calibrated plan and every verify's and
// calibrate's JSON, so that model variants can be judged against a
// measured run without another stack run. "" when the variable is unset.
func keepDir(b *testing.B, seed string) string {
	root := os.Getenv("CRMPLAN_ACCURACY_KEEP")
	if root == "" {
		return ""
	}
	dir := filepath.Join(root, seed)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatalf("CRMPLAN_ACCURACY_KEEP: %v", err)
	}
	return dir
}

func modelAccuracy(b *testing.B, e *deployEnv, plan, keep string) {
	// keepAs writes data to the keep directory as name, when there is one.
	keepAs := func(name string, data []byte) {
		b.Helper()
		if keep == "" {
			return
		}
		if err := os.WriteFile(filepath.Join(keep, name), data, 0o644); err != nil {
			b.Fatalf("keeping %s: %v", name, err)
		}
	}
	// verify and calibrate take --state-dir but not apply's --pulumi and --crm.
	run := func(v any, keepName string, args ...string) {
		b.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(e.crmplan, append(args, "--state-dir", e.stateDir, "--output", "json")...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// A missed SLO (exit 99) is a measurement like any other here.
		if err := cmd.Run(); err != nil && cmd.ProcessState.ExitCode() != 99 {
			b.Fatalf("crmplan %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 4000))
		}
		if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
			b.Fatalf("crmplan %s --output json: %v\n%s", args[0], err, tail(stdout.String(), 4000))
		}
		keepAs(keepName, stdout.Bytes())
	}
	verify := func(keepName string, args ...string) loadgen.Result {
		var res loadgen.Result
		run(&res, keepName, append([]string{"verify", "--plan", plan, "--duration", "30s", "--ramp-up", "5s"}, args...)...)
		return res
	}
	logLoad(b, "before the first verify")
	// A stack just applied is cold: its first run at the plan's rate
	// measured a mean of 10.0 ms where the three runs after it measured
	// 6.4-6.6 (seed 001; why, not diagnosed: caches, memory faulted in on
	// this machine, connection pools filling), and calibrate fitted that
	// as per-class delays the steady stack does not have. So one run warms
	// it, and calibrate reads the next.
	warm := verify("verify-warmup.json")
	b.Logf("warm-up run (not judged): achieved %.1f req/s, mean %.2f ms, p95 %.2f ms", warm.AchievedRate, warm.Latency.MeanMs, warm.Latency.P95Ms)
	// The run calibrate measures. Seed 000's ETL jobs are measured alone
	// for 8 s (the default 2 s reads them at the CPU counters' resolution).
	first := verify("verify-calibrate.json", "--etl-window", "8s")
	// Its measured figures are a first measurement at the plan's rate
	// beside the 1x run's (its predictions are the uncalibrated model's).
	b.Logf("the run calibrate reads (predicted: before calibrate):\n%s", compareRun(first, &accuracyErrors{}))
	var cal calibration
	run(&cal, "calibrate.json", "calibrate", "--plan", plan)
	if keep != "" {
		data, err := os.ReadFile(plan)
		if err != nil {
			b.Fatalf("keeping the calibrated plan: %v", err)
		}
		keepAs("plan.yaml", data)
	}
	for _, t := range cal.Tiers {
		b.Logf("calibrated %-12s %7.3f -> %7.3f ms (x%.2f, measured %v)", t.Role, t.ModelDemandMs, t.MeasuredDemandMs, t.Factor, t.Measured)
	}
	if cal.ClassesSkipped != "" {
		b.Logf("classes not fitted: %s", cal.ClassesSkipped)
	}
	for _, c := range cal.Classes {
		b.Logf("calibrated class %-12s measured mean %6.2f ms, model at the run %6.2f, after the split %6.2f (demand x%.2f), delay %.3f ms",
			c.Class, c.MeasuredMeanMs, c.ModelMeanMs, c.FittedMeanMs, c.Factor, c.DelayMs)
	}
	if sh := cal.Shape; sh != nil {
		b.Logf("calibrated service scv %.3f (%d stages): end to end p95 at the run %.2f ms measured, %.2f predicted, %.2f exponential",
			sh.SCV, sh.Stages, sh.MeasuredP95Ms, sh.FittedP95Ms, sh.ExponentialP95Ms)
	} else {
		b.Logf("service scv not fitted: %s", cal.ShapeSkipped)
	}
	var worst accuracyErrors
	var design float64
	repeat := accuracyRepeat(b)
	for _, x := range []float64{1, 2, 4} {
		var runs []loadgen.Result
		for i := range repeat {
			logLoad(b, fmt.Sprintf("before verify at %gx (%d of %d)", x, i+1, repeat))
			name := fmt.Sprintf("verify-%gx.json", x)
			if i > 0 {
				name = fmt.Sprintf("verify-%gx-%d.json", x, i+1)
			}
			var res loadgen.Result
			if x == 1 {
				res = verify(name)
				design = res.TargetRate
			} else {
				res = verify(name, "--rate", fmt.Sprint(design*x))
			}
			into := &worst
			if repeat > 1 {
				into = &accuracyErrors{} // the median is judged, below
			}
			b.Logf("verify at %gx (%.1f req/s asked, run %d of %d):\n%s", x, res.TargetRate, i+1, repeat, compareRun(res, into))
			runs = append(runs, res)
		}
		if repeat > 1 {
			b.Logf("verify at %gx, the median of %d runs:\n%s%s", x, repeat, spread(runs), compareRun(medianRun(runs), &worst))
		}
	}
	logLoad(b, "before find-max")
	var fm loadgen.FindMaxResult
	run(&fm, "find-max.json", "verify", "--plan", plan, "--find-max", "--rate", fmt.Sprint(design*2/3),
		"--step-factor", "1.25", "--duration", "15s", "--ramp-up", "3s")
	b.Logf("find-max:\n%s", compareFindMax(fm, &worst))
	logLoad(b, "after find-max")
	b.ReportMetric(worst.latency, "worst-latency-err-%")
	b.ReportMetric(worst.util, "worst-util-err-%")
	b.ReportMetric(worst.saturation, "saturation-err-%")
	b.ReportMetric(worst.usl, "usl-peak-err-%")
}

// accuracyRepeat is CRMPLAN_ACCURACY_REPEAT: how many verifies at each
// rate, 1 when unset.
func accuracyRepeat(b *testing.B) int {
	v := os.Getenv("CRMPLAN_ACCURACY_REPEAT")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 20 {
		b.Fatalf("CRMPLAN_ACCURACY_REPEAT=%q: want a count of runs from 1 to 20", v)
	}
	return n
}

// median is the middle of xs (the mean of the two middle ones for an even
// count); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// medianRun is runs[0] with every figure compareRun reads, measured and
// predicted, replaced by its median over the runs (each taken on its own:
// the median p95 need not be the median-mean run's). A class or tier
// missing from a run counts from the runs that have it.
func medianRun(runs []loadgen.Result) loadgen.Result {
	of := func(get func(loadgen.Result) (float64, bool)) float64 {
		var xs []float64
		for _, r := range runs {
			if x, ok := get(r); ok {
				xs = append(xs, x)
			}
		}
		return median(xs)
	}
	always := func(get func(loadgen.Result) float64) float64 {
		return of(func(r loadgen.Result) (float64, bool) { return get(r), true })
	}
	m := runs[0]
	m.AchievedRate = always(func(r loadgen.Result) float64 { return r.AchievedRate })
	m.GeneratorCPU = always(func(r loadgen.Result) float64 { return r.GeneratorCPU })
	m.Latency.MeanMs = always(func(r loadgen.Result) float64 { return r.Latency.MeanMs })
	m.Latency.P95Ms = always(func(r loadgen.Result) float64 { return r.Latency.P95Ms })
	m.ByClass = map[string]loadgen.ClassResult{}
	for _, r := range runs {
		for c := range r.ByClass {
			if _, done := m.ByClass[c]; done {
				continue // its medians are over every run already
			}
			cr := r.ByClass[c]
			cr.Latency.MeanMs = of(func(r loadgen.Result) (float64, bool) { x, ok := r.ByClass[c]; return x.Latency.MeanMs, ok })
			cr.Latency.P95Ms = of(func(r loadgen.Result) (float64, bool) { x, ok := r.ByClass[c]; return x.Latency.P95Ms, ok })
			m.ByClass[c] = cr
		}
	}
	m.Tiers = append([]loadgen.TierMeasurement(nil), runs[0].Tiers...)
	for i, t := range m.Tiers {
		m.Tiers[i].Utilization = of(func(r loadgen.Result) (float64, bool) {
			for _, u := range r.Tiers {
				if u.Role == t.Role && u.Measured > 0 {
					return u.Utilization, true
				}
			}
			return 0, false
		})
	}
	if m.Machine != nil {
		machine := func(get func(loadgen.MachineCPU) float64) float64 {
			return of(func(r loadgen.Result) (float64, bool) {
				if r.Machine == nil {
					return 0, false
				}
				return get(*r.Machine), true
			})
		}
		mc := *m.Machine
		mc.Busy = machine(func(c loadgen.MachineCPU) float64 { return c.Busy })
		mc.Other = machine(func(c loadgen.MachineCPU) float64 { return c.Other })
		mc.IdleOther = machine(func(c loadgen.MachineCPU) float64 { return c.IdleOther })
		m.Machine = &mc
	}
	if m.Predicted == nil {
		return m
	}
	p := *m.Predicted
	pred := func(get func(*loadgen.Prediction) (float64, bool)) float64 {
		return of(func(r loadgen.Result) (float64, bool) {
			if r.Predicted == nil {
				return 0, false
			}
			return get(r.Predicted)
		})
	}
	p.Rate = pred(func(q *loadgen.Prediction) (float64, bool) { return q.Rate, true })
	p.MeanMs = pred(func(q *loadgen.Prediction) (float64, bool) { return q.MeanMs, true })
	p.P95Ms = pred(func(q *loadgen.Prediction) (float64, bool) { return q.P95Ms, true })
	p.ByClass = map[string]loadgen.ClassPrediction{}
	for c := range m.Predicted.ByClass {
		p.ByClass[c] = loadgen.ClassPrediction{
			MeanMs: pred(func(q *loadgen.Prediction) (float64, bool) { x, ok := q.ByClass[c]; return x.MeanMs, ok }),
			P95Ms:  pred(func(q *loadgen.Prediction) (float64, bool) { x, ok := q.ByClass[c]; return x.P95Ms, ok }),
		}
	}
	p.Tiers = append([]loadgen.TierPrediction(nil), m.Predicted.Tiers...)
	for i, t := range p.Tiers {
		p.Tiers[i].Utilization = pred(func(q *loadgen.Prediction) (float64, bool) {
			for _, u := range q.Tiers {
				if u.Role == t.Role {
					return u.Utilization, true
				}
			}
			return 0, false
		})
	}
	// Overloaded if any run's prediction was: its latencies are not figures.
	for _, r := range runs {
		p.Unbounded = p.Unbounded || (r.Predicted != nil && r.Predicted.Unbounded)
	}
	m.Predicted = &p
	return m
}

// spread says how far apart the runs measured the end-to-end mean and p95:
// the noise the model's error is read against.
func spread(runs []loadgen.Result) string {
	var means, p95s []float64
	for _, r := range runs {
		means = append(means, r.Latency.MeanMs)
		p95s = append(p95s, r.Latency.P95Ms)
	}
	line := func(what string, xs []float64) string {
		med := median(xs) // sorts xs
		lo, hi := xs[0], xs[len(xs)-1]
		return fmt.Sprintf("  measured %-4s over the runs: %.2f .. %.2f ms, median %.2f (%+.1f / %+.1f %% of it)\n",
			what, lo, hi, med, relErr(lo, med), relErr(hi, med))
	}
	return line("mean", means) + line("p95", p95s)
}

// accuracyErrors are the worst relative errors seen, percent.
type accuracyErrors struct{ latency, util, saturation, usl float64 }

func relErr(pred, meas float64) float64 {
	if meas == 0 {
		return math.Inf(1)
	}
	return (pred - meas) / meas * 100
}

func worse(w *float64, e float64) {
	if math.Abs(e) > *w {
		*w = math.Abs(e)
	}
}

// compareRun lists a verify result's predicted-here figures beside the
// measured ones, and the relative error of each.
func compareRun(res loadgen.Result, w *accuracyErrors) string {
	var sb strings.Builder
	p := res.Predicted
	fmt.Fprintf(&sb, "  achieved %.1f req/s, dropped %d, failed %d, k6 %.2f cores\n", res.AchievedRate, res.Dropped, res.Failed, res.GeneratorCPU)
	if m := res.Machine; m != nil {
		fmt.Fprintf(&sb, "  machine: %.2f of %d cores busy, other processes %.2f (%.2f before the load): %.2f cores free\n",
			m.Busy, m.Cores, m.Other, m.IdleOther, m.Free())
	}
	if p == nil {
		sb.WriteString("  no prediction here in the result\n")
		return sb.String()
	}
	if p.Unbounded {
		fmt.Fprintf(&sb, "  predicted here: overloaded at %.1f req/s (saturates at %.1f)\n", p.Rate, p.SaturationRate)
	}
	line := func(what string, pred, meas float64, into *float64) {
		e := relErr(pred, meas)
		if into != nil && !p.Unbounded {
			worse(into, e)
		}
		fmt.Fprintf(&sb, "  %-22s predicted %8.2f  measured %8.2f  %+7.1f %%\n", what, pred, meas, e)
	}
	line("mean ms", p.MeanMs, res.Latency.MeanMs, &w.latency)
	line("p95 ms", p.P95Ms, res.Latency.P95Ms, &w.latency)
	classes := make([]string, 0, len(res.ByClass))
	for c := range res.ByClass {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		pc, ok := p.ByClass[c]
		if !ok {
			fmt.Fprintf(&sb, "  %-22s not in the model\n", c)
			continue
		}
		line(c+" mean ms", pc.MeanMs, res.ByClass[c].Latency.MeanMs, &w.latency)
		line(c+" p95 ms", pc.P95Ms, res.ByClass[c].Latency.P95Ms, &w.latency)
	}
	measured := map[string]loadgen.TierMeasurement{}
	for _, t := range res.Tiers {
		measured[t.Role] = t
	}
	for _, t := range p.Tiers {
		m, ok := measured[t.Role]
		if !ok || m.Measured == 0 {
			continue
		}
		line(t.Role+" util %", t.Utilization*100, m.Utilization*100, &w.util)
	}
	return sb.String()
}

// compareFindMax sets the predicted saturation here and the USL peak
// beside the measured maximum.
func compareFindMax(fm loadgen.FindMaxResult, w *accuracyErrors) string {
	var sb strings.Builder
	for _, s := range fm.Steps {
		fmt.Fprintf(&sb, "  %7.1f req/s: achieved %7.1f, mean %6.1f ms, p95 %6.1f ms, dropped %d, passed %v %v\n",
			s.Rate, s.AchievedRate, s.MeanMs, s.P95Ms, s.Dropped, s.Passed, s.Why)
	}
	w.saturation = math.Abs(relErr(fm.PredictedSaturationHere, fm.MaxRate))
	fmt.Fprintf(&sb, "  measured max %.1f req/s; predicted saturation here %.1f req/s (%+.1f %%)\n",
		fm.MaxRate, fm.PredictedSaturationHere, relErr(fm.PredictedSaturationHere, fm.MaxRate))
	if fm.USL != nil {
		w.usl = math.Abs(relErr(fm.USL.PeakX, fm.MaxRate))
		fmt.Fprintf(&sb, "  USL peak %.1f req/s at N %.1f (measured N up to %.1f; %+.1f %%)\n",
			fm.USL.PeakX, fm.USL.PeakN, fm.USL.MaxN, relErr(fm.USL.PeakX, fm.MaxRate))
	} else {
		w.usl = math.NaN()
		sb.WriteString("  no USL fit (fewer than three steps)\n")
	}
	return sb.String()
}

// logLoad logs the machine's load average: the model assumes the cores
// are the stack's and k6's, and other engineers share them.
func logLoad(b *testing.B, when string) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	b.Logf("load average %s: %s", when, strings.Join(strings.Fields(string(data))[:3], " "))
}

// TestMedianRun: the median of repeated runs takes each figure's own
// median, measured and predicted, and a class one run lacks counts from
// the others.
func TestMedianRun(t *testing.T) {
	run := func(mean, p95, listP95, util, predP95 float64, withReport bool) loadgen.Result {
		r := loadgen.Result{Latency: loadgen.Percentiles{MeanMs: mean, P95Ms: p95},
			ByClass: map[string]loadgen.ClassResult{"list": {Latency: loadgen.Percentiles{P95Ms: listP95}}},
			Tiers:   []loadgen.TierMeasurement{{Role: "web", Utilization: util, Measured: 1}},
			Predicted: &loadgen.Prediction{P95Ms: predP95, ByClass: map[string]loadgen.ClassPrediction{"list": {P95Ms: predP95}},
				Tiers: []loadgen.TierPrediction{{Role: "web", Utilization: util / 2}}}}
		if withReport {
			r.ByClass["report"] = loadgen.ClassResult{Latency: loadgen.Percentiles{P95Ms: p95 * 10}}
		}
		return r
	}
	runs := []loadgen.Result{
		run(5, 12, 14, 0.3, 9, true),
		run(4, 9, 20, 0.1, 11, false),
		run(6, 10, 10, 0.2, 10, true),
	}
	m := medianRun(runs)
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"mean", m.Latency.MeanMs, 5},
		{"p95", m.Latency.P95Ms, 10},
		{"list p95", m.ByClass["list"].Latency.P95Ms, 14},
		{"report p95 (two runs)", m.ByClass["report"].Latency.P95Ms, 110},
		{"web utilization", m.Tiers[0].Utilization, 0.2},
		{"predicted p95", m.Predicted.P95Ms, 10},
		{"predicted list p95", m.Predicted.ByClass["list"].P95Ms, 10},
		{"predicted web utilization", m.Predicted.Tiers[0].Utilization, 0.1},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s: median %g, want %g", c.what, c.got, c.want)
		}
	}
	if runs[0].Latency.P95Ms != 12 || runs[0].ByClass["list"].Latency.P95Ms != 14 {
		t.Errorf("medianRun changed the first run: %+v", runs[0].Latency)
	}
	if got := spread(runs); !strings.Contains(got, "p95  over the runs: 9.00 .. 12.00 ms, median 10.00 (-10.0 / +20.0 %") {
		t.Errorf("spread:\n%s", got)
	}
}
