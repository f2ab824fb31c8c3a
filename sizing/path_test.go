package sizing

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sample draws one end-to-end time from a path. The waits follow
// hop.carry's chain: at a waiting hop after the path's first, the request
// keeps the previous waiting hop's wait (none, or the same time) with
// probability carry, else draws afresh; the wait is drawn whether or not
// the hop is visited, as the queue is there either way.
func (p path) sample(rng *rand.Rand) float64 {
	var t, w float64
	first := true
	for _, h := range p.hops {
		if h.waitP > 0 {
			if first || !(rng.Float64() < h.carry) {
				w = 0
				if rng.Float64() < h.waitP {
					w = rng.ExpFloat64() / h.theta
				}
			}
			first = false
		}
		if rng.Float64() >= h.visit {
			continue
		}
		if h.waitP > 0 {
			t += w
		}
		for range max(h.stages, 1) {
			t += rng.ExpFloat64() / (h.mu * float64(max(h.stages, 1)))
		}
	}
	return t
}

// simulatedP95 draws n requests of the mixture of paths with a fixed seed
// and returns the 99.9 % confidence interval of their p95 from the order
// statistics (binomial: the k-th smallest with k = n*0.95 -/+
// 3.3*sqrt(n*0.95*0.05)), and their mean.
func simulatedP95(paths []path, n int, seed uint64) (lo, hi, mean float64) {
	rng := rand.New(rand.NewPCG(seed, 95))
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
		mean += times[i] / float64(n)
	}
	slices.Sort(times)
	half := 3.3 * math.Sqrt(float64(n)*q95*(1-q95))
	return times[int(float64(n)*q95-half)], times[int(float64(n)*q95+half)], mean
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
	lo, hi, _ := simulatedP95(paths, 200_000, 18)
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

// Correlated waits (hop.carry) against a simulation of the same chain with
// a fixed seed: a path of five hops sharing one queue's waitP and theta, as
// PredictHere's hops do, at carries from none to full. The mean is the
// independent form's at every carry (the chain keeps each hop's chance of
// waiting), and the p95 grows with the carry.
func TestPathQuantileCorrelatedWaits(t *testing.T) {
	mk := func(carry float64) []path {
		hops := []hop{
			{visit: 1, waitP: 0.4, theta: 900, mu: 2000, carry: carry},
			{visit: 1, waitP: 0.4, theta: 900, mu: 1500, stages: 2, carry: carry},
			{visit: 0.7, waitP: 0.4, theta: 900, mu: 3000, carry: carry},
			{visit: 1, waitP: 0.4, theta: 900, mu: 1200, stages: 2, carry: carry},
			{visit: 1, mu: 5000}, // a delay station: no queue, no state
		}
		return []path{{share: 0.8, hops: hops}, {share: 0.2, hops: hops[1:3]}}
	}
	prev := 0.0
	for _, carry := range []float64{0, 0.3, 0.7, 1} {
		paths := mk(carry)
		lo, hi, simMean := simulatedP95(paths, 200_000, 7)
		got := pathQuantile(paths, q95, 0.01)
		if got < lo || got > hi {
			t.Errorf("carry %v: p95 %v s, simulation's 99.9 %% interval [%v, %v]", carry, got, lo, hi)
		}
		// The transform's mean, -G'(0), by a central difference, against
		// the independent form's, which is the hops' means summed.
		var want float64
		for _, p := range paths {
			var m float64
			for _, h := range p.hops {
				m += h.visit / h.mu
				if h.waitP > 0 {
					m += h.visit * h.waitP / h.theta
				}
			}
			want += p.share * m
		}
		const ds = 1e-3
		var g1, g2 complex128
		for _, p := range paths {
			g1 += pathLT(p.hops, complex(-ds, 0), complex(p.share, 0))
			g2 += pathLT(p.hops, complex(ds, 0), complex(p.share, 0))
		}
		if mean := real(g1-g2) / (2 * ds); !near(mean, want, 1e-6) {
			t.Errorf("carry %v: the transform's mean %v s, the independent form's %v", carry, mean, want)
		}
		if !near(simMean, want, 0.01) {
			t.Errorf("carry %v: simulated mean %v s, want %v", carry, simMean, want)
		}
		if got < prev {
			t.Errorf("carry %v: p95 %v s below the lower carry's %v", carry, got, prev)
		}
		t.Logf("carry %v: p95 %.3f ms (simulated %.3f-%.3f), mean %.3f ms", carry, got*1000, lo*1000, hi*1000, want*1000)
		prev = got
	}
}

// tailPointwise is tail one inversion point at a time with lt and Go's
// complex division, the way it was written before mulLT; the Euler sum is
// the same.
func tailPointwise(paths []path, t float64) (surv, dens float64) {
	var total float64
	for _, p := range paths {
		total += p.share
	}
	var fs, fd [eulerK]float64
	for k := range fs {
		s := complex(eulerA/(2*t), float64(k)*math.Pi/t)
		var g complex128
		for _, p := range paths {
			v := complex(p.share/total, 0)
			for _, h := range p.hops {
				v *= h.lt(s)
			}
			g += v
		}
		inv := complex(real(s), -imag(s)) / complex(real(s)*real(s)+imag(s)*imag(s), 0)
		fs[k], fd[k] = real((1-g)*inv), real(g)
	}
	return eulerSum(t, &fs, &fd)
}

// mulLT and tail give the plain complex arithmetic's numbers to the bit
// (== ignores only the sign of a zero): random hops of every kind (no
// wait, partial visits, Erlang up to 16 stages, rates from 1 to 1e5/s) at
// times from 10 µs to 10 s.
func TestTransformMatchesComplexArithmetic(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 11))
	rate := func() float64 { return math.Pow(10, 5*rng.Float64()) }
	for trial := range 2000 {
		var paths []path
		for range 1 + rng.IntN(5) {
			pa := path{share: rng.Float64()}
			for range rng.IntN(7) {
				h := hop{visit: 1, mu: rate(), stages: []int{0, 1, 2, 3, 16}[rng.IntN(5)]}
				if rng.IntN(3) == 0 {
					h.visit = rng.Float64()
				}
				if rng.IntN(4) != 0 {
					h.waitP, h.theta = rng.Float64(), rate()
				}
				pa.hops = append(pa.hops, h)
			}
			paths = append(paths, pa)
		}
		at := math.Pow(10, -5+6*rng.Float64())
		sr := eulerA / (2 * at)
		var si, si2 [eulerK]float64
		for k := range si {
			si[k] = float64(k) * math.Pi / at
			si2[k] = si[k] * si[k]
		}
		for _, pa := range paths {
			for _, h := range pa.hops {
				v := [eulerK]complex128{}
				for k := range v {
					v[k] = 1
				}
				h.mulLT(&v, sr, &si, &si2)
				for k := range v {
					if want := h.lt(complex(sr, si[k])); v[k] != want {
						t.Fatalf("trial %d: %+v at s_%d: mulLT %v, lt %v", trial, h, k, v[k], want)
					}
				}
			}
		}
		gotS, gotD := tail(paths, at)
		wantS, wantD := tailPointwise(paths, at)
		if gotS != wantS || gotD != wantD {
			t.Fatalf("trial %d at %v s: tail (%v, %v), pointwise (%v, %v)", trial, at, gotS, gotD, wantS, wantD)
		}
	}
}
