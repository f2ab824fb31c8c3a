package loadgen

import (
	"math"
	"sort"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// TierCalibration is what calibrate learned about one tier.
type TierCalibration struct {
	Role string `json:"role"`
	// Measured is false when the result has no measurement for the tier;
	// its demands are then left as they were.
	Measured bool `json:"measured"`
	// ModelDemandMs and MeasuredDemandMs are mix-weighted CPU milliseconds
	// per request reaching the tier: the model's assumption and D = U/X.
	ModelDemandMs    float64 `json:"model_demand_ms"`
	MeasuredDemandMs float64 `json:"measured_demand_ms"`
	// Factor is measured / model: every class demand is scaled by it,
	// and then the class fit (CalibrateClasses) moves the split between
	// the classes, keeping the mix-weighted demand.
	Factor float64 `json:"factor"`
	// IdleCPU is the tier's CPU with no load, cores, left out of the
	// measured demand (TierMeasurement.IdleCPU).
	IdleCPU float64 `json:"idle_cpu,omitempty"`
	// BackgroundCPU is the background classes' CPU on the tier, cores,
	// left out too (TierMeasurement.BackgroundCPU).
	BackgroundCPU float64                  `json:"background_cpu,omitempty"`
	Demand        map[sizing.Class]float64 `json:"demand_ms"` // the calibrated demands
}

// Calibrate derives each measured tier's service demand from a verify result
// with the utilization law: the CPU seconds per second a tier used (U times
// its cores) divided by the requests per second reaching it (X times the
// visit share) is its demand per request, D = U/X. The CPU the tier used
// before the load began (its idle CPU, when the run measured it) is taken
// out first: charged to the requests it would grow with the rate, and a
// calibration at the plan's rate would overpredict every rate above it.
//
// CPU time alone cannot tell the classes apart, so each tier's per-class
// demands are scaled by one factor, measured over model, which keeps the
// model's ratios between classes and makes the mix-weighted demand equal the
// measured one. The run must have used the model's mix (verify's generated
// script does). A measured tier keeps only the classes the mix sends: the
// others' demands say nothing measured and change no prediction. m is
// returned with the new demands and every default filled.
func Calibrate(m sizing.Model, res Result) (sizing.Model, []TierCalibration, error) {
	if !(res.AchievedRate > 0) {
		return m, nil, crmplan.Errorf(crmplan.EINVALID, "the result has no throughput to calibrate from").
			Try("crmplan verify --plan PLAN.yaml")
	}
	m = m.WithDefaults()
	byRole := map[string]TierMeasurement{}
	for _, t := range res.Tiers {
		if t.Measured > 0 || t.CPU > 0 {
			byRole[t.Role] = t
		}
	}
	out := make([]TierCalibration, 0, len(m.Tiers))
	tiers := make([]sizing.TierSpec, len(m.Tiers))
	measured := 0
	for i, spec := range m.Tiers {
		cal := TierCalibration{Role: spec.Role, ModelDemandMs: mixDemand(spec, m.Workload.Mix)}
		spec.Demand = cloneDemand(spec.Demand)
		meas, ok := byRole[spec.Role]
		if ok && cal.ModelDemandMs > 0 && meas.CPU > 0 {
			visit := spec.Visit
			if visit <= 0 {
				visit = 1
			}
			cal.Measured = true
			busy := meas.CPU
			if meas.IdleCPU > 0 && meas.IdleCPU < meas.CPU {
				cal.IdleCPU = meas.IdleCPU
				busy -= meas.IdleCPU
			}
			if meas.BackgroundCPU > 0 && meas.BackgroundCPU < busy {
				// The ETL jobs' CPU is theirs, not the requests'.
				cal.BackgroundCPU = meas.BackgroundCPU
				busy -= meas.BackgroundCPU
			}
			cal.MeasuredDemandMs = busy / (res.AchievedRate * visit) * 1000
			cal.Factor = cal.MeasuredDemandMs / cal.ModelDemandMs
			// Within 0.1 % the model already says what was measured; leaving
			// it alone keeps a second calibration from the same result from
			// moving the demands by their rounding.
			if math.Abs(cal.Factor-1) >= 0.001 {
				for c, d := range spec.Demand {
					spec.Demand[c] = round3(d * cal.Factor)
				}
			}
			// A class the plan's mix never sends was not measured: the
			// role's default for it (the api tier's marketing demand in a
			// plan without a marketing server) would otherwise be written
			// into the plan as if it had been.
			for c := range spec.Demand {
				if !(m.Workload.Mix[c] > 0) {
					delete(spec.Demand, c)
				}
			}
			measured++
		}
		cal.Demand = spec.Demand
		tiers[i] = spec
		out = append(out, cal)
	}
	if measured == 0 {
		roles := make([]string, 0, len(byRole))
		for r := range byRole {
			roles = append(roles, r)
		}
		sort.Strings(roles)
		return m, out, crmplan.Errorf(crmplan.EINVALID,
			"the result measured no tier of the plan (measured: %v); calibrate needs CPU figures from /metrics", roles).
			Try("crmplan verify --plan PLAN.yaml   # against the stack apply deployed from this plan")
	}
	m.Tiers = tiers
	return m, out, nil
}

// mixDemand is the model's demand per request reaching the tier, weighted
// by the mix over all requests, as sizing computes it.
func mixDemand(t sizing.TierSpec, mix sizing.Mix) float64 {
	total := 0.0
	for c, d := range t.Demand {
		total += mix[c] * d
	}
	return total
}

func cloneDemand(d map[sizing.Class]float64) map[sizing.Class]float64 {
	out := make(map[sizing.Class]float64, len(d))
	for c, v := range d {
		out[c] = v
	}
	return out
}

// round3 keeps plan files readable: demands to a microsecond.
func round3(v float64) float64 {
	const k = 1000
	return float64(int64(v*k+0.5)) / k
}

// PlanCalibration is what CalibratePlan did to a plan: each tier's
// calibration, and the model's estimate before and after.
type PlanCalibration struct {
	Tiers []TierCalibration `json:"tiers"`
	// Classes is the class fit (CalibrateClasses): each measured class's
	// share of its tiers' demand and its delay. Empty when the run had no
	// class figures; the plan's delays are then left as they were.
	Classes []ClassCalibration `json:"classes,omitempty"`
	// ClassesSkipped says why the run's classes were not fitted, when
	// the run had them (ClassFitSkipped).
	ClassesSkipped string `json:"classes_skipped,omitempty"`
	// Shape is the service times' shape fitted to the run's p95
	// (CalibrateShape), after the classes; nil when it was not fitted,
	// ShapeSkipped then saying why (the classes were not fitted: the
	// shape fitted to a busy machine's tail would be that load's).
	Shape        *ShapeCalibration `json:"shape,omitempty"`
	ShapeSkipped string            `json:"shape_skipped,omitempty"`
	Before       sizing.Estimate   `json:"before"`
	After        sizing.Estimate   `json:"after"`
}

// CalibratePlan writes the tiers Calibrate measured into plan and sizes it
// before and after. A calibrated tier's spec is set in full (demands, HA,
// min, max servers, cores), because a tier with its own demands no longer
// takes its role's defaults for the rest; a tier not measured is left as
// the plan had it. The plan file itself is edited with
// topology.EditDemands, which writes only what changes.
func CalibratePlan(plan *topology.Plan, res Result) (PlanCalibration, error) {
	before := plan.Model()
	estBefore, err := sizing.Size(before)
	if err != nil {
		return PlanCalibration{}, err
	}
	after, tiers, err := Calibrate(before, res)
	if err != nil {
		return PlanCalibration{}, err
	}
	after, classes, err := CalibrateClasses(after, res, tiers)
	if err != nil {
		return PlanCalibration{}, err
	}
	var shape *ShapeCalibration
	shapeSkipped := ""
	if len(classes) > 0 {
		// Every measured class gets its figure, 0 included, so that a
		// delay an earlier calibration wrote does not outlive the run.
		plan.Workload.DelayMs = map[sizing.Class]float64{}
		for _, c := range classes {
			plan.Workload.DelayMs[sizing.Class(c.Class)] = c.DelayMs
		}
		// The shape is fitted to the p95 the fitted means leave: fitted
		// before them, it would take up the means' error too.
		if after, shape, err = CalibrateShape(after, res); err != nil {
			return PlanCalibration{}, err
		}
		if shape != nil {
			plan.Workload.ServiceSCV = after.Workload.ServiceSCV
		} else {
			shapeSkipped = "the run has no end-to-end p95"
		}
	} else {
		shapeSkipped = "the classes were not fitted, and the shape is fitted to the p95 their means leave"
		if why := ClassFitSkipped(res); why != "" {
			shapeSkipped = "the classes were not fitted (" + why + ")"
		}
		shapeSkipped += ": the service scv is left as it was"
	}
	if len(after.Tiers) != len(plan.Tiers) {
		return PlanCalibration{}, crmplan.Errorf(crmplan.EINTERNAL, "the plan has %d tiers, its model %d", len(plan.Tiers), len(after.Tiers))
	}
	for i, t := range tiers {
		if t.Measured {
			plan.Tiers[i].TierSpec = after.Tiers[i]
		}
	}
	estAfter, err := sizing.Size(plan.Model())
	if err != nil {
		return PlanCalibration{}, err
	}
	return PlanCalibration{Tiers: tiers, Classes: classes, ClassesSkipped: ClassFitSkipped(res), Shape: shape, ShapeSkipped: shapeSkipped,
		Before: estBefore, After: estAfter}, nil
}
