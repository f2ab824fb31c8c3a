package loadgen

import (
	"math"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

func TestCalibrate(t *testing.T) {
	model := sizing.Model{
		Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Mix: sizing.DefaultMix()},
		Tiers:    sizing.DefaultTiers(), // web, api, db-primary, db-replica, integration, etl
	}
	// Seed 000 at 150 req/s: the two api servers used 1.2 cores in all, the
	// web tier 0.3, the primary 0.45; the replica and the ESB were not scraped.
	res := Result{AchievedRate: 150, Tiers: []TierMeasurement{
		{Role: "web", Hosts: 1, Measured: 1, CPU: 0.3},
		{Role: "api", Hosts: 2, Measured: 2, CPU: 1.2},
		{Role: "db-primary", Hosts: 1, Measured: 1, CPU: 0.45},
		{Role: "worker", Hosts: 1, Measured: 1, CPU: 0.1}, // not in the plan
	}}
	got, tiers, err := Calibrate(model, res)
	if err != nil {
		t.Fatal(err)
	}
	// By hand, D = CPU / X:
	//   api: 1.2 / 150 = 8 ms; the default mix-weighted demand is
	//        0.35*12 + 0.35*8 + 0.15*15 + 0.05*40 + 0.10*10 = 12.25 ms,
	//        so every class is scaled by 8/12.25 (list 12 -> 7.837).
	//   web: 0.3 / 150 = 2 ms against 0.35*1 + 0.35*0.8 + 0.15*1.2 + 0.05*1 = 0.86 ms.
	//   db-primary: 0.45 / 150 = 3 ms against 0.35*1+0.35*2+0.15*6+0.05*1+0.10*3 = 2.3 ms
	//        (the defaults with a replica, which serves lists and reports).
	want := map[string]struct {
		measured, model, list float64
	}{
		"web":        {2, 0.86, 1.0 * 2 / 0.86},
		"api":        {8, 12.25, 12 * 8 / 12.25},
		"db-primary": {3, 2.3, 1 * 3 / 2.3},
	}
	for i, tc := range tiers {
		w, ok := want[tc.Role]
		if !ok {
			if tc.Measured || !equalDemand(got.Tiers[i].Demand, model.WithDefaults().Tiers[i].Demand) {
				t.Errorf("%s: changed without a measurement", tc.Role)
			}
			continue
		}
		if !tc.Measured || !near(tc.MeasuredDemandMs, w.measured) || !near(tc.ModelDemandMs, w.model) {
			t.Errorf("%s: measured %.4f model %.4f, want %.4f and %.4f", tc.Role, tc.MeasuredDemandMs, tc.ModelDemandMs, w.measured, w.model)
		}
		if d := got.Tiers[i].Demand[sizing.ClassList]; math.Abs(d-w.list) > 0.0006 {
			t.Errorf("%s: list demand %.4f, want %.4f", tc.Role, d, w.list)
		}
	}
	// The calibrated model predicts the measured utilization: sizing the new
	// model gives the api tier a mix-weighted demand of 8 ms.
	est, err := sizing.Size(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, te := range est.Tiers {
		if te.Role == "api" && math.Abs(te.ServiceDemandMs-8) > 0.01 {
			t.Errorf("api demand after calibration = %.3f ms, want 8", te.ServiceDemandMs)
		}
	}
}

func TestCalibrateRejects(t *testing.T) {
	model := sizing.Model{Workload: sizing.Workload{NamedUsers: 100, Concurrency: 1, TPM: 5}, Tiers: sizing.DefaultTiers()}
	tests := []struct {
		name string
		res  Result
	}{
		{"no throughput", Result{Tiers: []TierMeasurement{{Role: "api", Measured: 1, CPU: 1}}}},
		{"no tier of the plan", Result{AchievedRate: 10, Tiers: []TierMeasurement{{Role: "cache", Measured: 1, CPU: 1}}}},
		{"no tiers", Result{AchievedRate: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Calibrate(model, tt.res)
			if crmplan.ErrorCode(err) != crmplan.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func equalDemand(a, b map[sizing.Class]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCalibratePlan: a measured tier is written into the plan in full, an
// unmeasured one keeps the plan's (empty) spec, and the estimate after is
// the calibrated plan's.
func TestCalibratePlan(t *testing.T) {
	plan := topology.NewPlan("x", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5})
	// The api tier at 8 ms per request against the defaults' 12.25 ms.
	res := Result{AchievedRate: 150, Tiers: []TierMeasurement{{Role: "api", Hosts: 2, Measured: 2, CPU: 1.2}}}
	cal, err := CalibratePlan(plan, res)
	if err != nil {
		t.Fatal(err)
	}
	for i, tier := range plan.Tiers {
		measured := tier.Role == "api"
		if cal.Tiers[i].Role != tier.Role || cal.Tiers[i].Measured != measured {
			t.Errorf("tiers[%d]: calibration %+v for %s", i, cal.Tiers[i], tier.Role)
		}
		if written := tier.Demand != nil; written != measured {
			t.Errorf("%s: demands written %v, want %v", tier.Role, written, measured)
		}
	}
	if api := plan.Tiers[1]; api.Min != 2 || api.Cores == 0 || api.Visit == 0 {
		t.Errorf("api tier written without its defaults: %+v", api.TierSpec)
	}
	demand := func(e sizing.Estimate) float64 {
		for _, te := range e.Tiers {
			if te.Role == "api" {
				return te.ServiceDemandMs
			}
		}
		return 0
	}
	if b, a := demand(cal.Before), demand(cal.After); math.Abs(b-12.25) > 0.01 || math.Abs(a-8) > 0.01 {
		t.Errorf("api demand %.3f -> %.3f ms, want 12.25 -> 8", b, a)
	}
	if _, err := CalibratePlan(plan, Result{}); crmplan.ErrorCode(err) != crmplan.EINVALID {
		t.Errorf("a result without throughput: %v, want EINVALID", err)
	}
}

// TestCalibrateLeavesIdleOut: a tier's CPU with no load does not grow with
// the rate, so it is not a demand per request. The api tier used 1.2 cores
// at 150 req/s, 0.3 of them before the load began: (1.2-0.3)/150 = 6 ms.
func TestCalibrateLeavesIdleOut(t *testing.T) {
	model := sizing.Model{Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5}, Tiers: sizing.DefaultTiers()}
	res := Result{AchievedRate: 150, Tiers: []TierMeasurement{
		{Role: "api", Hosts: 2, Measured: 2, CPU: 1.2, IdleCPU: 0.3},
		// Idle above the run's CPU (the load ended a busy spell): ignored.
		{Role: "web", Hosts: 1, Measured: 1, CPU: 0.3, IdleCPU: 0.4},
	}}
	_, tiers, err := Calibrate(model, res)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tiers {
		switch tc.Role {
		case "api":
			if !near(tc.MeasuredDemandMs, 6) || tc.IdleCPU != 0.3 {
				t.Errorf("api: demand %.4f ms, idle %v; want 6 ms and 0.3", tc.MeasuredDemandMs, tc.IdleCPU)
			}
		case "web":
			if !near(tc.MeasuredDemandMs, 2) || tc.IdleCPU != 0 {
				t.Errorf("web: demand %.4f ms, idle %v; want 2 ms and none", tc.MeasuredDemandMs, tc.IdleCPU)
			}
		}
	}
}

// The ETL jobs' CPU on the primary, measured alone, is left out like the
// idle CPU: (0.9 - 0.15 - 0.3) cores at 150 req/s is 3 ms a request; a
// background CPU above what is left of the run's is ignored.
func TestCalibrateLeavesBackgroundOut(t *testing.T) {
	model := sizing.Model{Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5}, Tiers: sizing.DefaultTiers()}
	res := Result{AchievedRate: 150, Tiers: []TierMeasurement{
		{Role: "db-primary", Hosts: 1, Measured: 1, CPU: 0.9, IdleCPU: 0.15, BackgroundCPU: 0.3},
		{Role: "web", Hosts: 1, Measured: 1, CPU: 0.3, BackgroundCPU: 0.4},
	}}
	_, tiers, err := Calibrate(model, res)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tiers {
		switch tc.Role {
		case "db-primary":
			if !near(tc.MeasuredDemandMs, 3) || tc.IdleCPU != 0.15 || tc.BackgroundCPU != 0.3 {
				t.Errorf("primary: %+v; want 3 ms a visit, idle 0.15, background 0.3", tc)
			}
		case "web":
			if !near(tc.MeasuredDemandMs, 2) || tc.BackgroundCPU != 0 {
				t.Errorf("web: %+v; want 2 ms and no background", tc)
			}
		}
	}
}

// TestCalibratedPredictsIdleAndLoad: calibrated from a run that measured
// idle CPU, the prediction here with that idle CPU gives back the measured
// utilization at the run's rate, and at twice the rate only the per-request
// part doubles (the idle CPU does not grow with the rate).
func TestCalibratedPredictsIdleAndLoad(t *testing.T) {
	model := sizing.Model{Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5}, Tiers: sizing.DefaultTiers()}
	res := Result{AchievedRate: 150, Tiers: []TierMeasurement{{Role: "api", Hosts: 2, Measured: 2, CPU: 0.1, IdleCPU: 0.04}}}
	got, _, err := Calibrate(model, res)
	if err != nil {
		t.Fatal(err)
	}
	est, err := sizing.Size(got)
	if err != nil {
		t.Fatal(err)
	}
	here := sizing.Here{Cores: 2, IdleCPU: map[string]float64{"api": 0.04}}
	for _, tc := range []struct {
		rate, cpu float64 // the api tier's CPU, cores
	}{{150, 0.1}, {300, 0.04 + 2*0.06}} {
		at, err := sizing.PredictHere(got, est, tc.rate, here)
		if err != nil {
			t.Fatal(err)
		}
		for _, te := range at.Tiers {
			// Demands are rounded to a microsecond: 1e-3 relative.
			if want := tc.cpu / float64(te.Servers*te.Cores); te.Role == "api" && math.Abs(te.Utilization-want) > 1e-3*want {
				t.Errorf("api at %v req/s: utilization %.5f, want %.5f", tc.rate, te.Utilization, want)
			}
		}
	}
}
