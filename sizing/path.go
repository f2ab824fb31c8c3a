package sizing

import "math"

// hop is one tier on a request's path, as the end-to-end distribution sees
// it: with probability visit the request goes there, then waits with
// probability waitP an exponential time of rate theta (the M/M/c wait, or
// the wait a closed model's mean implies) and is served for a time of mean
// 1/mu: exponential when stages is 0 or 1, else Erlang with that many
// stages (the service shape, Workload.ServiceSCV: scv 1/stages, the same
// mean, a shorter tail). The wait stays exponential: queueing is what makes
// a tail exponential as the load grows.
type hop struct {
	visit, waitP, theta, mu float64
	stages                  int
}

// lt is the Laplace transform of the hop's time, E[e^{-sT}].
func (h hop) lt(s complex128) complex128 {
	var svc complex128
	if h.stages <= 1 {
		svc = expLT(h.mu, s)
	} else {
		// Erlang-k: k exponential stages of rate k*mu, (k mu/(k mu + s))^k.
		svc = powC(expLT(float64(h.stages)*h.mu, s), h.stages)
	}
	wait := complex(1-h.waitP, 0)
	if h.waitP > 0 {
		wait += complex(h.waitP, 0) * expLT(h.theta, s)
	}
	return complex(1-h.visit, 0) + complex(h.visit, 0)*wait*svc
}

// expLT is rate/(rate+s), the transform of an exponential time, in real
// arithmetic: Go's complex division guards against overflow at a cost
// sweeps feel, and here the denominator is at least rate > 0.
func expLT(rate float64, s complex128) complex128 {
	a, b := rate+real(s), imag(s)
	d := rate / (a*a + b*b)
	return complex(a*d, -b*d)
}

// powC is z^k for k >= 1 by squaring, in real arithmetic: the few
// multiplications an Erlang stage count needs, where cmplx.Pow would take
// a logarithm and an exponential per call.
func powC(z complex128, k int) complex128 {
	a, b := real(z), imag(z)
	ra, rb := 1.0, 0.0
	for {
		if k&1 == 1 {
			ra, rb = ra*a-rb*b, ra*b+rb*a
		}
		if k >>= 1; k == 0 {
			return complex(ra, rb)
		}
		a, b = a*a-b*b, 2*a*b
	}
}

// path is one request class's hops and its share of all requests.
type path struct {
	share float64
	hops  []hop
}

// Euler inversion of the Laplace transform (Abate and Whitt, "Numerical
// inversion of Laplace transforms of probability distributions", 1995): the
// Bromwich integral as a trapezoid sum with discretization error about
// e^{-eulerA} (1e-8), its alternating tail summed by binomial averaging of
// eulerM partial sums after eulerN terms: 27 transform evaluations per
// point, whatever the rates. A discretized convolution would need a step
// finer than the fastest tier's microseconds over the slowest's hundreds of
// milliseconds; uniformization likewise many steps per stiff path.
const (
	eulerA = 18.4
	eulerN = 15
	eulerM = 11
)

// eulerWeights are the binomial weights C(M,j)/2^M of the averaging.
var eulerWeights = func() [eulerM + 1]float64 {
	var w [eulerM + 1]float64
	c := 1.0
	for j := 0; j <= eulerM; j++ {
		w[j] = c / math.Exp2(eulerM)
		c = c * float64(eulerM-j) / float64(j+1)
	}
	return w
}()

// mixture is a mixture of paths as a survivor.
type mixture []path

func (m mixture) survival(t float64) (float64, float64) { return tail(m, t) }

// tail returns P(T > t) and the density of T at t for the mixture of paths
// (each weighted by its share; shares need not sum to 1, they are
// normalized), by inverting (1 - G(s))/s and G(s), G the mixture's
// transform.
func tail(paths []path, t float64) (surv, dens float64) {
	var total float64
	for _, p := range paths {
		total += p.share
	}
	transform := func(s complex128) (complex128, complex128) {
		var g complex128
		for _, p := range paths {
			v := complex(p.share/total, 0)
			for _, h := range p.hops {
				v *= h.lt(s)
			}
			g += v
		}
		inv := complex(real(s), -imag(s)) / complex(real(s)*real(s)+imag(s)*imag(s), 0)
		return (1 - g) * inv, g
	}
	scale := math.Exp(eulerA/2) / t
	var sumS, sumD float64
	var partS, partD [eulerM + 1]float64
	for k := 0; k <= eulerN+eulerM; k++ {
		s := complex(eulerA/(2*t), float64(k)*math.Pi/t)
		fs, fd := transform(s)
		w := scale
		if k == 0 {
			w /= 2
		} else if k%2 == 1 {
			w = -w
		}
		sumS += w * real(fs)
		sumD += w * real(fd)
		if k >= eulerN {
			partS[k-eulerN], partD[k-eulerN] = sumS, sumD
		}
	}
	for j, w := range eulerWeights {
		surv += w * partS[j]
		dens += w * partD[j]
	}
	return math.Min(1, math.Max(0, surv)), math.Max(0, dens)
}

// pathQuantile returns the t with P(T <= t) = q for the mixture of paths,
// in seconds, by solveSurvival from guess (any positive time; the sum of
// the hops' own quantiles is a good one). 0 when no path has a hop.
func pathQuantile(paths []path, q, guess float64) float64 {
	any := false
	for _, p := range paths {
		any = any || (p.share > 0 && len(p.hops) > 0)
	}
	if !any {
		return 0
	}
	t := guess
	if !(t > 0) || math.IsInf(t, 0) {
		t = 1e-3
	}
	// The inversion is good to about 1e-8, so ask Newton for 1e-7.
	return solveSurvival(mixture(paths), q, 0, t, 1e-7)
}
