package loadgen

import (
	"fmt"

	"github.com/crmplan/crmplan/sizing"
)

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
	// Cores and CoresFree, for a prediction here on a shared machine:
	// its cores, and those the stack and the generator had of them once
	// other processes took theirs (Result.Machine), which is what the
	// prediction was made with.
	Cores     int     `json:"cores,omitempty"`
	CoresFree float64 `json:"cores_free,omitempty"`
}

// Hardware says what a prediction here had of the machine, for a line of
// text: "with 0.6 of 2 cores free"; empty when p is not one.
func (p *Prediction) Hardware() string {
	if p == nil || p.Cores == 0 {
		return ""
	}
	return fmt.Sprintf("with %.2g of %d cores free", p.CoresFree, p.Cores)
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
// generator used (cores), the CPU other processes of a shared machine
// used (cores; 0 when not measured), the tiers' idle CPU by role (cores;
// empty when not measured) and the run's background classes: here, on
// the hardware the stack runs on, and for the plan's production servers.
// Either may be nil.
type Predictor func(rate, generatorCPU, otherCPU float64, idleCPU map[string]float64, background []sizing.Background) (here, production *Prediction)
