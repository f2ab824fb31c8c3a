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

// lt is the hop's transform at one point, written the plain way with
// complex arithmetic: the reference mulLT must equal.
func (h hop) lt(s complex128) complex128 {
	var svc complex128
	if h.stages <= 1 {
		svc = expLT(h.mu, s)
	} else {
		svc = powC(expLT(float64(h.stages)*h.mu, s), h.stages)
	}
	wait := complex(1-h.waitP, 0)
	if h.waitP > 0 {
		wait += complex(h.waitP, 0) * expLT(h.theta, s)
	}
	return complex(1-h.visit, 0) + complex(h.visit, 0)*wait*svc
}

// expLT is rate/(rate+s) with the denominator's conjugate.
func expLT(rate float64, s complex128) complex128 {
	a, b := rate+real(s), imag(s)
	d := rate / (a*a + b*b)
	return complex(a*d, -b*d)
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
