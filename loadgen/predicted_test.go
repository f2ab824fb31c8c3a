package loadgen

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/sizing"
)

// A run's predictions: Options.predict fills them at the achieved rate
// with the generator's CPU, and the summary shows "predicted here" beside
// the plan's prediction, overall and per class.
func TestPredictionInSummary(t *testing.T) {
	m := sizing.Model{Workload: sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5}, Tiers: sizing.DefaultTiers()}
	est, err := sizing.Size(m)
	if err != nil {
		t.Fatal(err)
	}
	var gotRate, gotGen, gotOther float64
	o := Options{Predict: func(rate, gen, other float64, _ map[string]float64, _ []sizing.Background) (*Prediction, *Prediction) {
		gotRate, gotGen, gotOther = rate, gen, other
		h := sizing.Here{Cores: 2, GeneratorMs: gen / rate * 1000, OtherCPU: other}
		at, err := sizing.PredictHere(m, est, rate, h)
		if err != nil {
			t.Fatal(err)
		}
		p := NewPrediction(at, rate)
		p.Cores, p.CoresFree = h.Cores, h.Free()
		return p, nil
	}}
	// The machine was 0.53 cores busy: 0.2 the tiers', 0.03 k6's, and the
	// other 0.3 nobody's the model knows, which leaves the stack 1.7.
	res := Result{TargetRate: 50, AchievedRate: 49.9, GeneratorCPU: 0.03, Latency: Percentiles{P95Ms: 40, MeanMs: 20},
		ByClass: map[string]ClassResult{"list": {Requests: 10, Latency: Percentiles{P95Ms: 30}}},
		Tiers:   []TierMeasurement{{Role: "web", CPU: 0.05}, {Role: "api", CPU: 0.15}},
		Machine: &MachineCPU{Cores: 2, Busy: 0.53, IdleBusy: 0.4, IdleOther: 0.35}}
	o.predict(&res)
	if !near(gotOther, 0.3) || !near(res.Machine.Other, 0.3) || !near(res.Machine.Free(), 1.7) {
		t.Errorf("other processes' CPU %v (machine %+v), want 0.3", gotOther, res.Machine)
	}
	if gotRate != 49.9 || gotGen != 0.03 || res.Predicted == nil || res.Predicted.Model != sizing.ModelHere ||
		len(res.Predicted.ByClass) != 5 || len(res.Predicted.Tiers) != len(est.Tiers) {
		t.Fatalf("rate %v gen %v, predicted %+v", gotRate, gotGen, res.Predicted)
	}
	var b bytes.Buffer
	if err := WriteSummary(&b, res, &est); err != nil {
		t.Fatal(err)
	}
	list := res.Predicted.ByClass["list"]
	for _, want := range []string{
		"predicted (plan's servers)", "predicted here",
		fmt.Sprintf("%.1f", res.Predicted.P95Ms),
		fmt.Sprintf("%.1f / %.1f", list.MeanMs, list.P95Ms),
		"predicted here (here-shared-cores at 49.9 req/s, with 1.7 of 2 cores free): on this target every host and the load generator share 2 cores, 1.7 of them free",
		"this machine: 0.53 of 2 cores busy in the steady phase, 0.30 of them other processes' (0.35 before the load)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
