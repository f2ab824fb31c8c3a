package loadgen

import (
	"fmt"
	"math"

	"github.com/crmplan/crmplan/sizing"
)

// ClassCalibration is what calibrate learned about one request class from
// the run's end-to-end latency.
type ClassCalibration struct {
	Class string `json:"class"`
	// MeasuredMeanMs is k6's mean for the class; ModelMeanMs the model's at
	// the run (its rate, the cores other processes left, the tiers'
	// calibrated demands) before the class fit, without a delay, and
	// FittedMeanMs the same after the demands' split was fitted.
	MeasuredMeanMs float64 `json:"measured_mean_ms"`
	ModelMeanMs    float64 `json:"model_mean_ms"`
	FittedMeanMs   float64 `json:"fitted_mean_ms"`
	// Factor is what the fit scaled the class's CPU demand along its path
	// by, after the tiers' calibration: below 1 for a class the defaults
	// made too costly beside the others, a little above 1 for the others,
	// which take up what it gave back (each tier's CPU stays as measured).
	Factor float64 `json:"factor"`
	// DelayMs is the measured mean less the fitted one, 0 or more: the
	// class's delay station (sizing.Workload.DelayMs).
	DelayMs float64 `json:"delay_ms"`
}

// The class fit's bounds: a class whose model mean is within fitTolerance
// above its measured one is left alone; no class's demand falls below
// minClassFactor of what the tiers' calibration gave it (a class whose
// measured mean is below the model's waiting alone cannot be fitted by
// its demand); fitIterations bounds the fit, which converges
// geometrically and in practice takes 5-15, and it stops early once no
// demand moves by fitSettled of itself.
const (
	fitTolerance   = 0.02
	minClassFactor = 0.1
	fitIterations  = 40
	fitSettled     = 1e-4
)

// CalibrateClasses fits what the tiers' CPU cannot tell (Calibrate) from
// the run's end-to-end mean of each class: m is a model whose measured
// tiers Calibrate has just set (tiers, its answer), res the run.
//
// CPU time measures each tier's demand over all classes, not how it
// splits between them; the split is the defaults' ratios. And the tiers'
// CPU is not all of a response: round trips between hosts and to k6, a
// thread's wake-up, a commit's fsync take time and no CPU of the tier.
// The model at the run (sizing.PredictHere on the machine it measured, or
// the open model on the plan's servers) explains the measured mean of
// each class with its CPU queues; what is left is one of the two:
//
//   - A class the model says is slower than measured, on a path of
//     measured tiers only, is given too large a share of its tiers' CPU:
//     its demands are scaled down (to the share that makes its mean the
//     measured one), and every measured tier's demands scaled back up
//     together, so that the tier's mix-weighted demand, and its
//     utilization, stay what was measured. That moves the other classes'
//     means up a little, so it is repeated until no class is above its
//     measured mean.
//   - A class the model says is faster than measured waits somewhere the
//     model has no queue for: the difference is its delay, a delay station
//     (an infinite server) on its path in the model. It is the smallest
//     delay that explains the run: a class with both a delay and a
//     smaller demand than the split gives it cannot be told apart from one
//     mean.
//
// The run should be at a low load (the plan's rate; calibrate reads the
// one verify ran), where a mean is more delay and service than waiting.
// m is returned with the fitted demands and the delays; the measured
// tiers' Demand in tiers is updated. A run without class figures, one
// the model has overloaded, or one on a machine too busy to tell
// (ClassFitSkipped) gives no classes and m unchanged.
func CalibrateClasses(m sizing.Model, res Result, tiers []TierCalibration) (sizing.Model, []ClassCalibration, error) {
	measured := map[sizing.Class]float64{}
	for _, c := range sizing.Classes() {
		cr, ok := res.ByClass[string(c)]
		if ok && cr.Requests > cr.Failed && cr.Latency.MeanMs > 0 && m.Workload.Mix[c] > 0 {
			measured[c] = cr.Latency.MeanMs
		}
	}
	if len(measured) == 0 || !(res.AchievedRate > 0) || ClassFitSkipped(res) != "" {
		return m, nil, nil
	}
	m.Workload.DelayMs = nil
	m.Tiers = append([]sizing.TierSpec(nil), m.Tiers...)
	for i := range m.Tiers {
		m.Tiers[i].Demand = cloneDemand(m.Tiers[i].Demand)
	}
	start := pathDemands(m, tiers)
	first, err := predictRun(m, res)
	if err != nil || first.Unbounded {
		return m, nil, err
	}
	// A class whose path crosses a tier the run did not measure keeps its
	// split: that tier's demand for it is the plan's guess, and cutting
	// the measured tiers' would only make up for it.
	fittable := map[sizing.Class]bool{}
	for c := range measured {
		fittable[c] = true
		for i, t := range tiers {
			if !t.Measured && m.Tiers[i].Demand[c] > 0 && m.Tiers[i].Role != "loadgen" {
				fittable[c] = false
			}
		}
	}
	lat := first
	for iter := 0; iter < fitIterations; iter++ {
		now := pathDemands(m, tiers)
		scale := map[sizing.Class]float64{}
		for c, meas := range measured {
			pred := lat.ByClass[c].MeanMs
			if floor := minClassFactor * start[c]; fittable[c] && pred > meas*(1+fitTolerance) && now[c] > floor {
				scale[c] = math.Max(meas/pred, floor/now[c])
			}
		}
		if len(scale) == 0 {
			break
		}
		moved := 0.0 // the largest change of a demand, relative
		for i, t := range tiers {
			if !t.Measured {
				continue
			}
			d := m.Tiers[i].Demand
			was := cloneDemand(d)
			for c, s := range scale {
				if _, ok := d[c]; ok {
					d[c] *= s
				}
			}
			if total := mixDemand(m.Tiers[i], m.Workload.Mix); total > 0 {
				// A class out of the mix (marketing in a seed without a
				// marketing server) is not in the measured total: it
				// keeps what it has.
				back := t.MeasuredDemandMs / total
				for c := range d {
					if m.Workload.Mix[c] > 0 {
						d[c] *= back
					}
				}
			}
			for c, v := range was {
				if v > 0 {
					moved = math.Max(moved, math.Abs(d[c]/v-1))
				}
			}
		}
		if moved < fitSettled {
			// Every class left is as far above its mean as the others:
			// a split cannot cut them all, each tier's total being
			// measured. What is left is the model's waiting, not the
			// split.
			break
		}
		if lat, err = predictRun(m, res); err != nil {
			return m, nil, err
		}
		if lat.Unbounded {
			return m, nil, fmt.Errorf("the class fit overloaded the model at the run's %.1f req/s", res.AchievedRate)
		}
	}
	for i, t := range tiers {
		if t.Measured {
			for c, d := range m.Tiers[i].Demand {
				m.Tiers[i].Demand[c] = round3(d)
			}
			tiers[i].Demand = m.Tiers[i].Demand
		}
	}
	if lat, err = predictRun(m, res); err != nil || lat.Unbounded {
		return m, nil, err
	}
	end := pathDemands(m, tiers)
	out := make([]ClassCalibration, 0, len(measured))
	for _, c := range sizing.Classes() {
		meas, ok := measured[c]
		if !ok {
			continue
		}
		cc := ClassCalibration{Class: string(c), MeasuredMeanMs: meas, ModelMeanMs: first.ByClass[c].MeanMs,
			FittedMeanMs: lat.ByClass[c].MeanMs, Factor: 1}
		if start[c] > 0 {
			cc.Factor = end[c] / start[c]
		}
		if d := round3(meas - cc.FittedMeanMs); d > 0 {
			cc.DelayMs = d
			if m.Workload.DelayMs == nil {
				m.Workload.DelayMs = map[sizing.Class]float64{}
			}
			m.Workload.DelayMs[c] = d
		}
		out = append(out, cc)
	}
	return m, out, nil
}

// busyMachine is the share of a shared machine's cores busy during a run
// above which calibrate fits no class: there the requests wait mostly for
// the other processes, whose hold on the cores the model's waiting
// (sizing's preempting) has only in the mean, and the delay it would find
// is that load's, not the stack's. Seen here: a calibration run at 95 %
// busy found delays of 9-24 ms a class where one at 72 % found 0.2-2.6,
// and its 1x check came out 46 % high.
const busyMachine = 0.9

// ClassFitSkipped says why CalibrateClasses fits no class from res, or ""
// when it can: the run's machine was too busy to tell the stack's delays
// from the other processes' hold on the cores.
func ClassFitSkipped(res Result) string {
	if m := res.Machine; m != nil && m.Cores > 0 && m.Busy/float64(m.Cores) >= busyMachine {
		return fmt.Sprintf("the machine was %.0f %% busy during the run (%.2f of %d cores, %.2f of them other processes'): "+
			"its class means are that load's more than the stack's, so the classes' split and delays are left as they were",
			100*m.Busy/float64(m.Cores), m.Busy, m.Cores, m.Other)
	}
	return ""
}

// pathDemands is each class's CPU demand, ms, over the measured tiers of
// its path (visits counted).
func pathDemands(m sizing.Model, tiers []TierCalibration) map[sizing.Class]float64 {
	out := map[sizing.Class]float64{}
	for i, t := range tiers {
		if !t.Measured {
			continue
		}
		visit := m.Tiers[i].Visit
		if visit <= 0 {
			visit = 1
		}
		for c, d := range m.Tiers[i].Demand {
			out[c] += visit * d
		}
	}
	return out
}

// predictRun is the model's end-to-end latency at the run, as verify
// predicted it (cmd/crmplan's verifyPredictor): on the machine the run
// measured when it shared one (sizing.PredictHere with the run's
// generator, idle, background and other processes' CPU), else the open
// model on the plan's servers; each tier at the hosts the run found.
func predictRun(m sizing.Model, res Result) (sizing.Latency, error) {
	est, err := sizing.Size(m)
	if err != nil {
		return sizing.Latency{}, err
	}
	hosts := map[string]int{}
	for _, t := range res.Tiers {
		hosts[t.Role] = t.Hosts
	}
	for i, t := range est.Tiers {
		if n := hosts[t.Role]; n > 0 {
			est.Tiers[i].Servers = n
		}
	}
	idle, bg, other := res.predictInputs()
	var at sizing.Estimate
	if res.Machine != nil && res.Machine.Cores > 0 {
		h := sizing.Here{Cores: res.Machine.Cores, GeneratorMs: sizing.DefaultGeneratorMs, Background: bg, OtherCPU: other}
		if res.GeneratorCPU > 0 {
			h.GeneratorMs = res.GeneratorCPU / res.AchievedRate * 1000
		}
		if len(idle) > 0 {
			h.IdleCPU = idle
		}
		at, err = sizing.PredictHere(m, est, res.AchievedRate, h)
	} else {
		at, err = sizing.PredictAtWith(m, est, res.AchievedRate, bg)
	}
	return at.EndToEnd, err
}
