package loadgen

import (
	"math"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// shapeTruth is seed 000 with its default tiers, delays on three classes
// and service times of the given scv.
func shapeTruth(scv float64) sizing.Model {
	m := sizing.Model{
		Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Mix: sizing.DefaultMix(),
			DelayMs: map[sizing.Class]float64{sizing.ClassList: 0.4, sizing.ClassView: 0.3, sizing.ClassIntegration: 2.3}},
		Tiers: sizing.DefaultTiers(),
	}.WithDefaults()
	m.Workload.ServiceSCV = scv
	return m
}

// The shape fit recovers a known truth: a run whose p95 is what the model
// with Erlang-k service times predicts at it gives k back, for every k
// the fit searches, with the fitted p95 the measured one and the
// exponential's above it. A p95 above even the exponential's gives the
// exponential (scv 0 in the model: the plan says nothing), one below the
// Erlang-16's gives 16; the means are never moved.
func TestCalibrateShape(t *testing.T) {
	for _, k := range []int{1, 2, 3, 5, 8, 16} {
		truth := shapeTruth(1 / float64(k))
		res := classRun(t, truth)
		lat, err := predictRun(truth, res)
		if err != nil {
			t.Fatal(err)
		}
		res.Latency.P95Ms = lat.P95Ms
		m, sh, err := CalibrateShape(shapeTruth(0), res)
		if err != nil || sh == nil {
			t.Fatalf("%d stages: %v, %+v", k, err, sh)
		}
		if sh.Stages != k || sh.MeasuredP95Ms != lat.P95Ms || !(math.Abs(sh.FittedP95Ms/lat.P95Ms-1) < 1e-6) ||
			(k > 1 && !(sh.ExponentialP95Ms > sh.FittedP95Ms)) {
			t.Errorf("%d stages: fitted %+v, truth's p95 %v", k, sh, lat.P95Ms)
		}
		if want := 1 / float64(k); k > 1 && (math.Abs(sh.SCV-want) > 5e-5 || m.Workload.ServiceSCV != sh.SCV) || k == 1 && m.Workload.ServiceSCV != 0 {
			t.Errorf("%d stages: scv %v, model's %v", k, sh.SCV, m.Workload.ServiceSCV)
		}
		if sizing.Stages(m.Workload.ServiceSCV) != k {
			t.Errorf("%d stages: the model's scv %v is %d stages", k, m.Workload.ServiceSCV, sizing.Stages(m.Workload.ServiceSCV))
		}
		after, _ := predictRun(m, res)
		if !(math.Abs(after.MeanMs/lat.MeanMs-1) < 1e-9) {
			t.Errorf("%d stages: mean %v after the fit, %v before", k, after.MeanMs, lat.MeanMs)
		}
	}
	res := classRun(t, shapeTruth(0))
	for _, tt := range []struct {
		name   string
		p95    float64
		stages int
	}{{"above the exponential", 1000, 1}, {"below 16 stages", 0.01, 16}} {
		res.Latency.P95Ms = tt.p95
		_, sh, err := CalibrateShape(shapeTruth(0), res)
		if err != nil || sh == nil || sh.Stages != tt.stages {
			t.Errorf("%s: %v, %+v, want %d stages", tt.name, err, sh, tt.stages)
		}
	}
	res.Latency.P95Ms = 0
	if m, sh, err := CalibrateShape(shapeTruth(0.5), res); err != nil || sh != nil || m.Workload.ServiceSCV != 0.5 {
		t.Errorf("a run without a p95: %v, %+v, scv %v", err, sh, m.Workload.ServiceSCV)
	}
}

// CalibratePlan writes the fitted scv into the plan after the classes,
// and on a machine too busy for the classes leaves the plan's scv and
// says why.
func TestCalibratePlanShape(t *testing.T) {
	truth := shapeTruth(0.25)
	res := classRun(t, truth)
	lat, err := predictRun(truth, res)
	if err != nil {
		t.Fatal(err)
	}
	res.Latency.P95Ms = lat.P95Ms
	plan := topology.NewPlan("x", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Mix: sizing.DefaultMix()})
	cal, err := CalibratePlan(plan, res)
	if err != nil {
		t.Fatal(err)
	}
	if cal.Shape == nil || cal.ShapeSkipped != "" || plan.Workload.ServiceSCV != cal.Shape.SCV || len(cal.Classes) == 0 {
		t.Errorf("shape %+v (skipped %q), plan's scv %v", cal.Shape, cal.ShapeSkipped, plan.Workload.ServiceSCV)
	}
	busy := res
	busy.Machine = &MachineCPU{Cores: 2, Busy: 1.9, Other: 0.5}
	plan = topology.NewPlan("x", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Mix: sizing.DefaultMix(), ServiceSCV: 0.5})
	cal, err = CalibratePlan(plan, busy)
	if err != nil {
		t.Fatal(err)
	}
	if cal.Shape != nil || !strings.Contains(cal.ShapeSkipped, "95 % busy") || plan.Workload.ServiceSCV != 0.5 {
		t.Errorf("on a busy machine: shape %+v, skipped %q, plan's scv %v", cal.Shape, cal.ShapeSkipped, plan.Workload.ServiceSCV)
	}
}
