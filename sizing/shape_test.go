package sizing

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

// withShape is seed 000 with delays on some classes (so that the delay
// stations take the shape too) and the given service scv.
func withShape(scv float64) Model {
	m := seed000()
	m.Workload.DelayMs = map[Class]float64{ClassList: 0.4, ClassWrite: 0.9, ClassIntegration: 2.3}
	m.Workload.ServiceSCV = scv
	return m
}

// A service scv of 1 is today's model, bit for bit: Size (closed MVA),
// PredictAt (open) and PredictHere give the same estimates with
// service_scv 1 as without it.
func TestSCVOneIsExponential(t *testing.T) {
	sameEstimates(t, "with scv 1", withShape(0), withShape(1))
}

// sameEstimates fails unless m and other give the same estimates, bit for
// bit, from Size (the closed model), PredictAt (open) and PredictHere on
// a shared machine with other processes; the workload's own figures are
// left out of Size's, for models that differ only in how they say nothing.
func sameEstimates(t *testing.T, what string, m, other Model) {
	t.Helper()
	est, estOther := mustSize(t, m), mustSize(t, other)
	est.Workload, estOther.Workload = WorkloadEstimate{}, WorkloadEstimate{}
	if !reflect.DeepEqual(est, estOther) {
		t.Errorf("Size %s:\n%+v\nwithout:\n%+v", what, estOther, est)
	}
	est = mustSize(t, m)
	at, _ := PredictAt(m, est, 100)
	atOther, _ := PredictAt(other, est, 100)
	if !reflect.DeepEqual(at, atOther) {
		t.Errorf("PredictAt %s:\n%+v\nwithout:\n%+v", what, atOther, at)
	}
	h := Here{Cores: 2, GeneratorMs: 0.6, OtherCPU: 0.7}
	here, _ := PredictHere(m, est, 40, h)
	hereOther, _ := PredictHere(other, est, 40, h)
	if !reflect.DeepEqual(here, hereOther) {
		t.Errorf("PredictHere %s:\n%+v\nwithout:\n%+v", what, hereOther, here)
	}
}

// The shape moves the percentiles and nothing else: at every rate, with
// and without other processes, the means (end to end and per class), the
// utilizations and the saturation are those of the exponential model;
// the p95s, end to end and of every class, fall strictly as the scv falls
// (Erlang stages 1 to 16) and stay above the mean; and Little's law holds
// along the path, the delay stations' requests counted.
func TestSCVShape(t *testing.T) {
	est := mustSize(t, withShape(0))
	p, err := prepare(fixedAt(withShape(0), est))
	if err != nil {
		t.Fatal(err)
	}
	mixDelay := p.mixDelayS()
	for _, other := range []float64{0, 0.8} {
		h := Here{Cores: 2, GeneratorMs: 0.6, OtherCPU: other}
		for _, rate := range []float64{5, 30, 52} {
			plain, err := PredictHere(withShape(0), est, rate, h)
			if err != nil || plain.EndToEnd.Unbounded {
				t.Fatalf("other %v, rate %v: %v, %+v", other, rate, err, plain.EndToEnd)
			}
			last := plain
			for k := 2; k <= 16; k++ {
				e, err := PredictHere(withShape(1/float64(k)), est, rate, h)
				if err != nil {
					t.Fatal(err)
				}
				at := func(what string, got, want float64) {
					if !near(got, want, 1e-9) {
						t.Errorf("other %v, rate %v, %d stages: %s %v, %v exponential", other, rate, k, what, got, want)
					}
				}
				at("mean", e.EndToEnd.MeanMs, plain.EndToEnd.MeanMs)
				at("saturation", e.SaturationRate(), plain.SaturationRate())
				for i := range e.Tiers {
					at(e.Tiers[i].Role+" utilization", e.Tiers[i].Utilization, plain.Tiers[i].Utilization)
				}
				if !(e.EndToEnd.P95Ms < last.EndToEnd.P95Ms && e.EndToEnd.P95Ms > e.EndToEnd.MeanMs) {
					t.Errorf("other %v, rate %v: p95 %v at %d stages, %v at %d, mean %v", other, rate, e.EndToEnd.P95Ms, k, last.EndToEnd.P95Ms, k-1, e.EndToEnd.MeanMs)
				}
				for c := range e.EndToEnd.ByClass {
					got, prev := e.EndToEnd.ByClass[c], last.EndToEnd.ByClass[c]
					at(string(c)+" mean", got.MeanMs, plain.EndToEnd.ByClass[c].MeanMs)
					if !(got.P95Ms < prev.P95Ms && got.P95Ms > got.MeanMs) {
						t.Errorf("other %v, rate %v, %s: p95 %v at %d stages, %v at %d, mean %v", other, rate, c, got.P95Ms, k, prev.P95Ms, k-1, got.MeanMs)
					}
				}
				inSystem := rate * mixDelay
				for i, te := range e.Tiers {
					inSystem += te.ArrivalRate * p.tiers[i].used * te.PredictedMeanMs / 1000
				}
				if n := rate * e.EndToEnd.MeanMs / 1000; !near(inSystem, n, 1e-9) {
					t.Errorf("other %v, rate %v, %d stages: %v requests in the system, %v by Little's law", other, rate, k, inSystem, n)
				}
				last = e
			}
		}
	}
}

// The Erlang hops' inverted transform against a simulation with a fixed
// seed, as TestPathQuantileAgainstSimulation checks the exponential ones:
// the model's p95 lies in the simulated p95's 99.9 % interval.
func TestPathQuantileErlangAgainstSimulation(t *testing.T) {
	for _, k := range []int{2, 5, 16} {
		paths := []path{
			{share: 0.7, hops: []hop{{visit: 1, mu: 1000, stages: k}, {visit: 1, waitP: 0.3, theta: 200, mu: 80, stages: k}, {visit: 0.2, mu: 300, stages: k}}},
			{share: 0.3, hops: []hop{{visit: 1, waitP: 0.6, theta: 400, mu: 250, stages: k}, {visit: 1, mu: 500, stages: k}}},
		}
		rng := rand.New(rand.NewPCG(18, uint64(k)))
		const n = 200_000
		times := make([]float64, n)
		for i := range times {
			p := paths[0]
			if rng.Float64() >= 0.7 {
				p = paths[1]
			}
			times[i] = p.sample(rng)
		}
		slices.Sort(times)
		half := 3.3 * math.Sqrt(n*q95*(1-q95))
		lo, hi := times[int(n*q95-half)], times[int(n*q95+half)]
		if got := pathQuantile(paths, q95, 0.1); got < lo || got > hi {
			t.Errorf("%d stages: p95 %v s, simulation's 99.9 %% interval [%v, %v]", k, got, lo, hi)
		}
	}
}

// One Erlang-2 hop of rate mu: P(T > t) = e^{-2 mu t} (1 + 2 mu t), so at
// its p95 t the survival is 5 %.
func TestPathQuantileErlangExact(t *testing.T) {
	got := pathQuantile([]path{{share: 1, hops: []hop{{visit: 1, mu: 100, stages: 2}}}}, q95, 0.01)
	if s := math.Exp(-200*got) * (1 + 200*got); !near(s, 1-q95, 1e-6) {
		t.Errorf("p95 %v s: survival there %v, want 0.05", got, s)
	}
}

func TestStages(t *testing.T) {
	tests := []struct {
		scv  float64
		want int
	}{{0, 1}, {1, 1}, {0.5, 2}, {0.4, 3}, {1.0 / 3, 3}, {0.3, 3}, {0.25, 4}, {0.0625, 16}}
	for _, tt := range tests {
		if got := Stages(tt.scv); got != tt.want {
			t.Errorf("Stages(%v) = %d, want %d", tt.scv, got, tt.want)
		}
	}
}

func TestSCVInvalid(t *testing.T) {
	for _, scv := range []float64{-0.5, 1.01, 4, math.NaN(), math.Inf(1)} {
		m := seed000()
		m.Workload.ServiceSCV = scv
		_, err := Size(m)
		var ce *crmplan.Error
		if !errors.As(err, &ce) || ce.Code != crmplan.EINVALID || ce.Field != "workload.service_scv" || !strings.Contains(ce.Hint, "service_scv: 0.25") {
			t.Errorf("scv %v: %#v", scv, err)
		}
	}
}
