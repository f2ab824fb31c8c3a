package sizing

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sample draws one end-to-end time from a path.
func (p path) sample(rng *rand.Rand) float64 {
	var t float64
	for _, h := range p.hops {
		if rng.Float64() >= h.visit {
			continue
		}
		if rng.Float64() < h.waitP {
			t += rng.ExpFloat64() / h.theta
		}
		for range max(h.stages, 1) {
			t += rng.ExpFloat64() / (h.mu * float64(max(h.stages, 1)))
		}
	}
	return t
}

// The inverted transform against a simulation with a fixed seed: 200,000
// requests of a mixture of paths whose rates span three orders of
// magnitude (the stiff case). The simulated p95's 99.9 % confidence
// interval comes from the order statistics (binomial: the k-th smallest
// with k = n*0.95 -/+ 3.3*sqrt(n*0.95*0.05)), and the model's p95 must lie
// in it.
func TestPathQuantileAgainstSimulation(t *testing.T) {
	paths := []path{
		{share: 0.6, hops: []hop{{visit: 1, mu: 1000}, {visit: 1, waitP: 0.3, theta: 200, mu: 80}, {visit: 0.2, mu: 300}}},
		{share: 0.3, hops: []hop{{visit: 1, mu: 1000}, {visit: 1, waitP: 0.3, theta: 200, mu: 25}, {visit: 1, waitP: 0.9, theta: 40, mu: 40}}},
		{share: 0.1, hops: []hop{{visit: 1, waitP: 0.05, theta: 5000, mu: 2000}}},
	}
	rng := rand.New(rand.NewPCG(18, 95))
	const n = 200_000
	times := make([]float64, n)
	var total float64
	for _, p := range paths {
		total += p.share
	}
	for i := range times {
		u := rng.Float64() * total
		for _, p := range paths {
			if u -= p.share; u < 0 {
				times[i] = p.sample(rng)
				break
			}
		}
	}
	slices.Sort(times)
	half := 3.3 * math.Sqrt(n*q95*(1-q95))
	lo, hi := times[int(n*q95-half)], times[int(n*q95+half)]
	got := pathQuantile(paths, q95, 0.1)
	if got < lo || got > hi {
		t.Errorf("p95 %v s, simulation's 99.9 %% interval [%v, %v]", got, lo, hi)
	}
	// Survival at the quantile is 5 % to the inversion's accuracy.
	if s, _ := tail(paths, got); !near(s, 1-q95, 1e-6) {
		t.Errorf("P(T > p95) = %v", s)
	}
}

// One exponential hop: the p95 is ln(20)/mu exactly, whatever the guess.
func TestPathQuantileExponential(t *testing.T) {
	for _, guess := range []float64{0, 1e-6, 0.003, 10} {
		got := pathQuantile([]path{{share: 1, hops: []hop{{visit: 1, mu: 100}}}}, q95, guess)
		if want := math.Log(20) / 100; !near(got, want, 1e-6) {
			t.Errorf("guess %v: p95 %v, want %v", guess, got, want)
		}
	}
	if got := pathQuantile([]path{{share: 1}}, q95, 1); got != 0 {
		t.Errorf("empty path p95 %v, want 0", got)
	}
}
