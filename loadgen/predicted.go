package loadgen

import "github.com/crmplan/crmplan/sizing"

// Prediction is the model's answer at the rate a run achieved, stored in
// the result beside what the run measured so that the two are compared at
// the same load and, for Result.Predicted, on the same hardware.
type Prediction struct {
	Model   string                     `json:"model"` // sizing.Answer.Name
	Why     string                     `json:"why"`
	Rate    float64                    `json:"rate"`
	MeanMs  float64                    `json:"mean_ms"`
	P95Ms   float64                    `json:"p95_ms"`
	ByClass map[string]ClassPrediction `json:"by_class"`
	Tiers   []TierPrediction           `json:"tiers"`
	// SaturationRate is where the model's first tier reaches 100 %.
	SaturationRate float64 `json:"saturation_rate"`
	// Unbounded is true when a tier is overloaded at Rate: the latencies
	// then leave it out.
	Unbounded bool `json:"unbounded,omitempty"`
}

// ClassPrediction is one request class's predicted end-to-end latency.
type ClassPrediction struct {
	MeanMs float64 `json:"mean_ms"`
	P95Ms  float64 `json:"p95_ms"`
}

// TierPrediction is one tier's predicted utilization, per core of the
// plan's servers as TierMeasurement.Utilization is measured.
type TierPrediction struct {
	Role        string  `json:"role"`
	Utilization float64 `json:"utilization"`
}

// NewPrediction is e, an estimate at rate, as a Prediction.
func NewPrediction(e sizing.Estimate, rate float64) *Prediction {
	p := &Prediction{Model: e.Model.Name, Why: e.Model.Why, Rate: rate, MeanMs: e.EndToEnd.MeanMs, P95Ms: e.EndToEnd.P95Ms,
		ByClass: map[string]ClassPrediction{}, SaturationRate: e.SaturationRate(), Unbounded: e.EndToEnd.Unbounded}
	for c, l := range e.EndToEnd.ByClass {
		p.ByClass[string(c)] = ClassPrediction{MeanMs: l.MeanMs, P95Ms: l.P95Ms}
	}
	for _, t := range e.Tiers {
		p.Tiers = append(p.Tiers, TierPrediction{Role: t.Role, Utilization: t.Utilization})
	}
	return p
}

// Predictor predicts a run at the rate it achieved, given the CPU its
// generator used (cores), the tiers' idle CPU by role (cores; empty
// when not measured) and the run's background classes: here, on the
// hardware the stack runs on, and for the plan's production servers.
// Either may be nil.
type Predictor func(rate, generatorCPU float64, idleCPU map[string]float64, background []sizing.Background) (here, production *Prediction)
