package sizing

import (
	"math"
	"strings"
	"testing"
)

// A delay station of 0 ms is today's model, bit for bit: Size (closed
// MVA), PredictAt (open) and PredictHere give the same estimates with
// every class's delay at 0 as with none.
func TestDelayZeroIsNoDelay(t *testing.T) {
	m := seed000()
	zero := seed000()
	zero.Workload.DelayMs = map[Class]float64{}
	for _, c := range Classes() {
		zero.Workload.DelayMs[c] = 0
	}
	sameEstimates(t, "with 0 ms delays", m, zero)
}

// The delay station adds each class's delay to its mean and to nobody's
// utilization or saturation (the utilization law: it holds no CPU); the
// end-to-end mean rises by the mix-weighted delay; the p95s rise, to at
// least the delay's own p95 (an exponential's: ln 20 means); the
// latency still rises with the rate; and Little's law holds along the
// path with the delay station's requests counted, rate x delay of them.
func TestDelayStation(t *testing.T) {
	m := seed000()
	est := mustSize(t, m)
	delayed := seed000()
	delayed.Workload.DelayMs = map[Class]float64{ClassList: 1.5, ClassView: 0.8, ClassIntegration: 3.4, ClassReport: 0}
	mix := DefaultMix()
	mixDelay := 0.0
	for c, d := range delayed.Workload.DelayMs {
		mixDelay += mix[c] * d
	}
	p, err := prepare(fixedAt(m, est))
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []float64{0, 0.8} {
		h := Here{Cores: 2, GeneratorMs: 0.6, OtherCPU: other}
		var last Estimate
		for _, rate := range []float64{5, 15, 30, 45, 52} {
			plain, err := PredictHere(m, est, rate, h)
			if err != nil {
				t.Fatal(err)
			}
			e, err := PredictHere(delayed, est, rate, h)
			if err != nil {
				t.Fatal(err)
			}
			if e.EndToEnd.Unbounded || plain.EndToEnd.Unbounded {
				t.Fatalf("other %v, rate %v: overloaded; pick rates below saturation", other, rate)
			}
			if e.SaturationRate() != plain.SaturationRate() {
				t.Errorf("other %v, rate %v: saturation %v with the delay, %v without", other, rate, e.SaturationRate(), plain.SaturationRate())
			}
			for i := range e.Tiers {
				if e.Tiers[i].Utilization != plain.Tiers[i].Utilization || e.Tiers[i].PredictedMeanMs != plain.Tiers[i].PredictedMeanMs {
					t.Errorf("other %v, rate %v: %s changed with the delay: %+v, %+v", other, rate, e.Tiers[i].Role, e.Tiers[i], plain.Tiers[i])
				}
			}
			for _, c := range Classes() {
				d := delayed.Workload.DelayMs[c]
				got, want := e.EndToEnd.ByClass[c], plain.EndToEnd.ByClass[c]
				if !near(got.MeanMs, want.MeanMs+d, 1e-12) {
					t.Errorf("other %v, rate %v, %s: mean %v, want %v + %v", other, rate, c, got.MeanMs, want.MeanMs, d)
				}
				if d == 0 && !near(got.P95Ms, want.P95Ms, 1e-6) {
					t.Errorf("other %v, rate %v, %s: p95 %v without a delay of its own, want %v", other, rate, c, got.P95Ms, want.P95Ms)
				}
				if d > 0 && !(got.P95Ms > want.P95Ms && got.P95Ms > d*math.Log(20)*(1-1e-6)) {
					t.Errorf("other %v, rate %v, %s: p95 %v with a delay of %v ms; %v without", other, rate, c, got.P95Ms, d, want.P95Ms)
				}
			}
			if !near(e.EndToEnd.MeanMs, plain.EndToEnd.MeanMs+mixDelay, 1e-9) || !(e.EndToEnd.P95Ms > plain.EndToEnd.P95Ms) {
				t.Errorf("other %v, rate %v: end to end %+v with the delay, %+v without (mix-weighted delay %v ms)", other, rate, e.EndToEnd, plain.EndToEnd, mixDelay)
			}
			inSystem := rate * mixDelay / 1000
			for i, te := range e.Tiers {
				inSystem += te.ArrivalRate * p.tiers[i].used * te.PredictedMeanMs / 1000
			}
			if n := rate * e.EndToEnd.MeanMs / 1000; !near(inSystem, n, 1e-9) {
				t.Errorf("other %v, rate %v: %v requests at the tiers and the delay station, %v by Little's law", other, rate, inSystem, n)
			}
			if last.Tiers != nil && !(e.EndToEnd.MeanMs >= last.EndToEnd.MeanMs && e.EndToEnd.P95Ms >= last.EndToEnd.P95Ms) {
				t.Errorf("other %v: at rate %v %+v, below the lower rate's %+v", other, rate, e.EndToEnd, last.EndToEnd)
			}
			last = e
		}
	}
}

// In the closed model a delay station is think time to the network: the
// population stays, the throughput falls by what the users spend in it,
// and Little's law still holds over the whole cycle, N = X (Z + R).
func TestDelayStationClosed(t *testing.T) {
	m := seed000()
	m.Workload.DelayMs = map[Class]float64{ClassList: 400, ClassView: 400, ClassWrite: 400, ClassReport: 400, ClassIntegration: 400, ClassMarketing: 400}
	plain, delayed := mustSize(t, seed000()), mustSize(t, m)
	if delayed.Model.Population != plain.Model.Population || !(delayed.Model.Throughput < plain.Model.Throughput) {
		t.Errorf("with 400 ms delays: %+v; without: %+v", delayed.Model, plain.Model)
	}
	n := delayed.Model.Throughput * (delayed.Model.ThinkTimeS + delayed.EndToEnd.MeanMs/1000)
	if !near(n, delayed.Model.Population, 1e-3) {
		t.Errorf("Little's law: X (Z + R) = %v, population %v (%+v, %+v)", n, delayed.Model.Population, delayed.Model, delayed.EndToEnd)
	}
	if !(delayed.EndToEnd.MeanMs > plain.EndToEnd.MeanMs+399) {
		t.Errorf("mean %v with 400 ms delays, %v without", delayed.EndToEnd.MeanMs, plain.EndToEnd.MeanMs)
	}
}

func TestDelayInvalid(t *testing.T) {
	for _, d := range []map[Class]float64{{ClassList: -1}, {ClassList: math.NaN()}, {ClassList: math.Inf(1)}, {"bogus": 1}} {
		m := seed000()
		m.Workload.DelayMs = d
		if _, err := Size(m); err == nil || !strings.Contains(err.Error(), "workload.delay_ms") {
			t.Errorf("delay %v: %v", d, err)
		}
	}
}
