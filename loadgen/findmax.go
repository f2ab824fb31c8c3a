package loadgen

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// FindMaxOptions steps the arrival rate up from Options.Scenario.Rate.
type FindMaxOptions struct {
	Factor   float64 // each step's rate is the last one's times Factor; 1.25 when 0
	MaxRate  float64 // stop after this rate; 0 means 50 times the start
	MaxSteps int     // 12 when 0
	// PredictedSaturation is the sizing model's rate at which the first
	// tier reaches 100 % utilization, stored next to the measured maximum;
	// PredictedSaturationHere the same on the hardware the stack runs on.
	PredictedSaturation     float64
	PredictedSaturationHere float64
}

// FindMaxStep is one rate tried.
type FindMaxStep struct {
	Rate         float64  `json:"rate"`
	AchievedRate float64  `json:"achieved_rate"`
	P95Ms        float64  `json:"p95_ms"`
	MeanMs       float64  `json:"mean_ms"`
	ErrorRate    float64  `json:"error_rate"`
	Dropped      int64    `json:"dropped_iterations"`
	Passed       bool     `json:"passed"`
	Why          []string `json:"why,omitempty"` // what broke, when it did not pass
}

// FindMaxResult is the outcome of `crmplan verify --find-max`, saved as
// <results>/<timestamp>-findmax.json and findmax-latest.json.
type FindMaxResult struct {
	Stack     string        `json:"stack"`
	StartedAt time.Time     `json:"started_at"`
	Steps     []FindMaxStep `json:"steps"`
	// MaxRate is the highest rate that met the SLO with the rate held and no
	// iteration dropped; 0 when even the first step failed.
	MaxRate             float64 `json:"max_rate"`
	PredictedSaturation float64 `json:"predicted_saturation"`
	// PredictedSaturationHere is where the model saturates on the hardware
	// the stack runs on (0 when unknown): the figure the measured maximum
	// can be held to. Once a step held, it is the best step's prediction,
	// with that step's generator and idle CPU.
	PredictedSaturationHere float64 `json:"predicted_saturation_here,omitempty"`
	// USL is the Universal Scalability Law fitted to the steps (requests
	// in flight by Little's law against throughput), with its peak; nil
	// with fewer than three steps.
	USL *sizing.USL `json:"usl,omitempty"`
	// Best is the full result of the step at MaxRate.
	Best *Result `json:"best,omitempty"`
}

// fitUSL fits the USL to the steps that completed requests.
func (r *FindMaxResult) fitUSL() {
	var pts []sizing.USLPoint
	for _, s := range r.Steps {
		pts = append(pts, sizing.USLPoint{N: s.AchievedRate * s.MeanMs / 1000, X: s.AchievedRate})
	}
	if u, err := sizing.FitUSL(pts); err == nil {
		r.USL = &u
	}
}

// FindMax runs verify at rising rates until a step breaks the SLO, drops
// iterations or falls more than 2 % short of its rate, and returns the
// highest rate that held. Each step is a full k6 run of the scenario's ramp-up
// and duration, so keep the duration short (30 s is plenty).
func FindMax(ctx context.Context, o Options, f FindMaxOptions) (FindMaxResult, string, error) {
	if f.Factor == 0 {
		f.Factor = 1.25
	}
	if f.MaxSteps == 0 {
		f.MaxSteps = 12
	}
	if f.MaxRate == 0 {
		f.MaxRate = o.Scenario.Rate * 50
	}
	if !(f.Factor > 1) || math.IsInf(f.Factor, 0) {
		return FindMaxResult{}, "", crmplan.Errorf(crmplan.EINVALID, "the step factor must be above 1, got %g", f.Factor).
			In("--step-factor").Try("crmplan verify --find-max --step-factor 1.25")
	}
	if o.Script != nil {
		return FindMaxResult{}, "", crmplan.Errorf(crmplan.EINVALID, "--find-max generates a script per rate and cannot run an edited one").
			In("--script").Try("crmplan verify --find-max --plan PLAN.yaml")
	}
	if _, err := o.script(); err != nil {
		return FindMaxResult{}, "", err
	}
	if err := checkTarget(ctx, o.Target); err != nil {
		return FindMaxResult{}, "", err
	}
	if err := o.checkGenerators(ctx); err != nil {
		return FindMaxResult{}, "", err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	started := now().UTC()
	out := FindMaxResult{Stack: o.Stack, StartedAt: started, PredictedSaturation: f.PredictedSaturation,
		PredictedSaturationHere: f.PredictedSaturationHere}
	runID := started.Format("20060102T150405Z")
	rate := o.Scenario.Rate
	for i := 0; i < f.MaxSteps && rate <= f.MaxRate; i++ {
		step := o
		step.Scenario.Rate = math.Round(rate*100) / 100
		script, err := Script(o.servable(step.Scenario))
		if err != nil {
			return out, "", err
		}
		dir := filepath.Join(o.ResultsDir, fmt.Sprintf("%s-findmax-%02d", runID, i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return out, "", fmt.Errorf("find-max: %w", err)
		}
		res, err := step.run(ctx, script, dir, fmt.Sprintf("%s-%d", runID, i+1))
		if err != nil {
			return out, "", err
		}
		res.Stack, res.StartedAt = o.Stack, started
		if err := lostGenerators(res, dir); err != nil {
			// The load fell short through no fault of the target's:
			// neither a held nor a broken step.
			path, _ := saveJSON(o.ResultsDir, runID+"-findmax", "findmax-latest", out)
			return out, path, err
		}
		o.predict(&res)
		st := judgeStep(res)
		out.Steps = append(out.Steps, st)
		o.logf("find-max: %7.1f req/s  achieved %7.1f  p95 %7.1f ms  errors %5.2f %%  dropped %d  %s",
			st.Rate, st.AchievedRate, st.P95Ms, st.ErrorRate*100, st.Dropped, map[bool]string{true: "held", false: "BROKE"}[st.Passed])
		if !st.Passed {
			break
		}
		out.MaxRate = st.Rate
		best := res
		out.Best = &best
		rate *= f.Factor
	}
	if out.Best != nil && out.Best.Predicted != nil && out.Best.Predicted.SaturationRate > 0 {
		// The prediction made before the run assumed the generator's
		// default CPU and no idle CPU; the best step measured both.
		out.PredictedSaturationHere = out.Best.Predicted.SaturationRate
	}
	out.fitUSL()
	path, err := saveJSON(o.ResultsDir, runID+"-findmax", "findmax-latest", out)
	return out, path, err
}

// judgeStep says whether a step held: the SLO met, the rate achieved within
// 2 % and no iteration dropped (a dropped iteration is a request the target
// was too slow to take).
func judgeStep(res Result) FindMaxStep {
	st := FindMaxStep{Rate: res.TargetRate, AchievedRate: res.AchievedRate, P95Ms: res.Latency.P95Ms, MeanMs: res.Latency.MeanMs,
		ErrorRate: res.ErrorRate, Dropped: res.Dropped, Passed: true}
	st.Why = append(st.Why, res.SLO.Violations...)
	if res.AchievedRate < 0.98*res.TargetRate {
		st.Why = append(st.Why, fmt.Sprintf("achieved %.1f of %.1f req/s", res.AchievedRate, res.TargetRate))
	}
	if res.Dropped > 0 {
		st.Why = append(st.Why, fmt.Sprintf("%d iterations dropped", res.Dropped))
	}
	st.Passed = len(st.Why) == 0
	return st
}
