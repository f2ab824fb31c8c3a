package loadgen

import (
	"math"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/sizing"
)

// classRun is a run of seed 000's calibrated model at 30 req/s on 2 shared
// cores with other processes on 0.5 of them, whose class means are those
// of truth (its demands, its delays): what the model at the run predicts
// for it. Each tier's CPU is truth's mix-weighted demand at the rate, so
// Calibrate finds truth's tier totals.
func classRun(t *testing.T, truth sizing.Model) Result {
	t.Helper()
	const rate = 30
	res := Result{AchievedRate: rate, GeneratorCPU: 0.6 * rate / 1000, ByClass: map[string]ClassResult{},
		Machine: &MachineCPU{Cores: 2, Other: 0.5}}
	for _, spec := range truth.Tiers {
		visit := spec.Visit
		if visit <= 0 {
			visit = 1
		}
		res.Tiers = append(res.Tiers, TierMeasurement{Role: spec.Role, Hosts: 1, Measured: 1,
			CPU: rate * visit * mixDemand(spec, truth.Workload.Mix) / 1000})
	}
	lat, err := predictRun(truth, res)
	if err != nil || lat.Unbounded {
		t.Fatalf("truth at the run: %v, %+v", err, lat)
	}
	for c, l := range lat.ByClass {
		res.ByClass[string(c)] = ClassResult{Requests: 900, Latency: Percentiles{MeanMs: l.MeanMs}}
	}
	return res
}

// The class fit recovers a known truth: seed 000 whose report class costs
// a third of what the defaults say beside the other classes (each tier's
// total as the defaults') and whose list, view and integration calls
// spend 1.5, 0.8 and 3.4 ms outside the tiers. From a run of it, the fit
// leaves every measured tier's mix-weighted demand as measured (the
// utilization law), makes the report class cheaper and finds the delays
// to within the fit's tolerance; the model after it predicts each class's
// measured mean. A run without class figures changes nothing.
func TestCalibrateClasses(t *testing.T) {
	base := sizing.Model{
		Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Mix: sizing.DefaultMix()},
		Tiers:    sizing.DefaultTiers(),
	}.WithDefaults()
	truth := base
	truth.Tiers = nil
	for _, spec := range base.Tiers {
		total := mixDemand(spec, base.Workload.Mix)
		d := cloneDemand(spec.Demand)
		if _, ok := d[sizing.ClassReport]; ok && total > 0 {
			d[sizing.ClassReport] /= 3
			spec.Demand = d
			back := total / mixDemand(spec, base.Workload.Mix)
			for c := range d {
				d[c] *= back
			}
		}
		spec.Demand = d
		truth.Tiers = append(truth.Tiers, spec)
	}
	delays := map[sizing.Class]float64{sizing.ClassList: 1.5, sizing.ClassView: 0.8, sizing.ClassIntegration: 3.4}
	truth.Workload.DelayMs = delays
	res := classRun(t, truth)

	m, tiers, err := Calibrate(base, res)
	if err != nil {
		t.Fatal(err)
	}
	fitted, classes, err := CalibrateClasses(m, res, tiers)
	if err != nil {
		t.Fatal(err)
	}
	if len(classes) != len(sizing.DefaultMix()) {
		t.Fatalf("classes %+v", classes)
	}
	for i, tc := range tiers {
		if !tc.Measured {
			continue
		}
		if got := mixDemand(fitted.Tiers[i], fitted.Workload.Mix); math.Abs(got-tc.MeasuredDemandMs) > 0.002 {
			t.Errorf("%s: mix-weighted demand %v after the fit, measured %v", tc.Role, got, tc.MeasuredDemandMs)
		}
		if !equalDemand(tc.Demand, fitted.Tiers[i].Demand) {
			t.Errorf("%s: calibration says %v, the model %v", tc.Role, tc.Demand, fitted.Tiers[i].Demand)
		}
	}
	after, err := predictRun(fitted, res)
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range classes {
		c := sizing.Class(cc.Class)
		want := delays[c]
		// The fit stops with a class up to fitTolerance above its mean:
		// what that leaves is within 2 % of the class's mean.
		if math.Abs(cc.DelayMs-want) > 0.02*cc.MeasuredMeanMs+0.001 || fitted.Workload.DelayMs[c] != cc.DelayMs {
			t.Errorf("%s: delay %v ms (model %v), want %v: %+v", c, cc.DelayMs, fitted.Workload.DelayMs[c], want, cc)
		}
		if got := after.ByClass[c].MeanMs; math.Abs(got-cc.MeasuredMeanMs) > fitTolerance*cc.MeasuredMeanMs {
			t.Errorf("%s: the fitted model predicts %v ms, measured %v", c, got, cc.MeasuredMeanMs)
		}
		if c == sizing.ClassReport && !(cc.Factor < 0.5 && cc.ModelMeanMs > cc.MeasuredMeanMs*1.5) {
			t.Errorf("report: %+v, want its demand cut and its first model mean well above the measured", cc)
		}
		if c != sizing.ClassReport && !(cc.Factor >= 1) {
			t.Errorf("%s: factor %v; only the report class gives CPU back", c, cc.Factor)
		}
	}

	// The same run on a machine 95 % busy: not fitted, and said why.
	busy := res
	busy.Machine = &MachineCPU{Cores: 2, Busy: 1.9, Other: 0.5}
	if why := ClassFitSkipped(busy); !strings.Contains(why, "95 % busy") {
		t.Errorf("a busy machine: %q", why)
	}
	if same, classes, err := CalibrateClasses(m, busy, tiers); err != nil || classes != nil || same.Workload.DelayMs != nil {
		t.Errorf("on a busy machine: %v, %+v, delays %v", err, classes, same.Workload.DelayMs)
	}
	if why := ClassFitSkipped(res); why != "" {
		t.Errorf("the run at %+v: skipped, %q", res.Machine, why)
	}

	res.ByClass = nil
	same, classes, err := CalibrateClasses(m, res, tiers)
	if err != nil || classes != nil || same.Workload.DelayMs != nil {
		t.Errorf("without class figures: %v, %+v, delays %v", err, classes, same.Workload.DelayMs)
	}
}

// A second calibration from the same run moves nothing by more than 1 %:
// the fitted model's classes are at their measured means, or as near as
// a split with each tier's total fixed can put them, so neither the
// split nor the delays move again.
func TestCalibrateClassesTwice(t *testing.T) {
	base := sizing.Model{
		Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Mix: sizing.DefaultMix()},
		Tiers:    sizing.DefaultTiers(),
	}.WithDefaults()
	res := classRun(t, base)
	for c, cr := range res.ByClass {
		cr.Latency.MeanMs *= 0.8 // every class faster than the defaults' split says
		if c == "list" {
			cr.Latency.MeanMs += 5
		}
		res.ByClass[c] = cr
	}
	m, tiers, _ := Calibrate(base, res)
	once, first, err := CalibrateClasses(m, res, tiers)
	if err != nil {
		t.Fatal(err)
	}
	m2, tiers2, _ := Calibrate(once, res)
	twice, second, err := CalibrateClasses(m2, res, tiers2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if math.Abs(first[i].DelayMs-second[i].DelayMs) > 0.01*first[i].MeasuredMeanMs {
			t.Errorf("%s: delay %v, then %v", first[i].Class, first[i].DelayMs, second[i].DelayMs)
		}
	}
	for i := range once.Tiers {
		for c, d := range once.Tiers[i].Demand {
			if math.Abs(twice.Tiers[i].Demand[c]-d) > 0.01*d+0.001 {
				t.Errorf("%s %s: %v, then %v", once.Tiers[i].Role, c, d, twice.Tiers[i].Demand[c])
			}
		}
	}
}
