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
	var gotRate, gotGen float64
	o := Options{Predict: func(rate, gen float64, _ map[string]float64, _ []sizing.Background) (*Prediction, *Prediction) {
		gotRate, gotGen = rate, gen
		at, err := sizing.PredictHere(m, est, rate, sizing.Here{Cores: 2, GeneratorMs: gen / rate * 1000})
		if err != nil {
			t.Fatal(err)
		}
		return NewPrediction(at, rate), nil
	}}
	res := Result{TargetRate: 50, AchievedRate: 49.9, GeneratorCPU: 0.03, Latency: Percentiles{P95Ms: 40, MeanMs: 20},
		ByClass: map[string]ClassResult{"list": {Requests: 10, Latency: Percentiles{P95Ms: 30}}}}
	o.predict(&res)
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
		"predicted here (here-shared-cores at 49.9 req/s): on this target every host and the load generator share 2 cores",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
