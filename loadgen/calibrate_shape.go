package loadgen

import (
	"fmt"
	"math"

	"github.com/crmplan/crmplan/sizing"
)

// ShapeCalibration is the service times' shape calibrate fitted
// (sizing.Workload.ServiceSCV): the scv whose predicted end-to-end p95 at
// the run comes closest to the measured one.
type ShapeCalibration struct {
	// SCV is 1/Stages to four decimals, written into the plan as
	// workload.service_scv.
	SCV    float64 `json:"scv"`
	Stages int     `json:"stages"`
	// MeasuredP95Ms is k6's p95 over all requests; ExponentialP95Ms the
	// model's at the run with exponential times (scv 1), after the
	// demand, split and delay fit; FittedP95Ms the model's with SCV.
	MeasuredP95Ms    float64 `json:"measured_p95_ms"`
	ExponentialP95Ms float64 `json:"exponential_p95_ms"`
	FittedP95Ms      float64 `json:"fitted_p95_ms"`
}

// maxStages bounds the shape fit: scv 1/16. A request's CPU time here is
// not that regular, and beyond it the p95 moves by less than a run's
// noise.
const maxStages = 16

// CalibrateShape fits the service times' shape to the run's end-to-end
// p95: m is the model after CalibrateClasses (its demands, split and
// delays fit the run's means, which the shape does not move), and every
// stage count from 1 (exponential) to maxStages is predicted at the run;
// the one whose p95 is nearest the measured p95, relatively, wins. The p95
// falls as the stages rise, so a measured p95 above the exponential's
// gives 1 and one below the Erlang-16's gives 16. m is returned with
// Workload.ServiceSCV set (0 for the exponential, which is the plan
// without it). nil when the run has no p95.
func CalibrateShape(m sizing.Model, res Result) (sizing.Model, *ShapeCalibration, error) {
	meas := res.Latency.P95Ms
	if !(meas > 0) || !(res.AchievedRate > 0) {
		return m, nil, nil
	}
	var best *ShapeCalibration
	bestErr := math.Inf(1)
	exp := 0.0
	for k := 1; k <= maxStages; k++ {
		try := m
		try.Workload.ServiceSCV = 1 / float64(k)
		lat, err := predictRun(try, res)
		if err != nil {
			return m, nil, err
		}
		if lat.Unbounded {
			return m, nil, fmt.Errorf("the model is overloaded at the run's %.1f req/s: no p95 to fit the shape to", res.AchievedRate)
		}
		if k == 1 {
			exp = lat.P95Ms
		}
		if e := math.Abs(lat.P95Ms/meas - 1); e < bestErr {
			bestErr = e
			best = &ShapeCalibration{SCV: math.Round(1e4/float64(k)) / 1e4, Stages: k, MeasuredP95Ms: meas, FittedP95Ms: lat.P95Ms}
		}
	}
	best.ExponentialP95Ms = exp
	m.Workload.ServiceSCV = best.SCV
	if best.Stages == 1 {
		m.Workload.ServiceSCV = 0
	}
	return m, best, nil
}
