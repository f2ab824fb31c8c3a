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

// mulLT multiplies each v[k] by the hop's Laplace transform E[e^{-sT}]
// at the k-th point of an inversion, s_k = sr + i si[k] (si2[k] its
// square): 1 - visit + visit * wait(s) * service(s), where service is
// mu/(mu+s) for an exponential or (k mu/(k mu + s))^k for Erlang-k, and
// wait is 1 - waitP + waitP theta/(theta+s). One hop over all the points
// at once: every s_k has the same real part, so a rate's rate + sr and its
// square are taken once, not 27 times, and the real factors (visit,
// waitP) scale in real arithmetic, where complex(x, 0)*z would multiply
// by zeros too. Each product is the one complex arithmetic gives, in the
// same order (path_test.go checks it to the bit), so sweeps got faster
// without any answer moving.
func (h hop) mulLT(v *[eulerK]complex128, sr float64, si, si2 *[eulerK]float64) {
	rate := h.mu
	if h.stages > 1 {
		rate = float64(h.stages) * h.mu
	}
	aS := rate + sr
	aS2 := aS * aS
	aW := h.theta + sr
	aW2 := aW * aW
	idle, visit, skip := 1-h.waitP, h.visit, 1-h.visit
	for k := range v {
		b := si[k]
		d := rate / (aS2 + si2[k])
		svcR, svcI := aS*d, -b*d
		if h.stages > 1 {
			z := powC(complex(svcR, svcI), h.stages)
			svcR, svcI = real(z), imag(z)
		}
		waitR, waitI := idle, 0.0
		if h.waitP > 0 {
			d := h.theta / (aW2 + si2[k])
			waitR += h.waitP * (aW * d)
			waitI = h.waitP * (-b * d)
		}
		xr, xi := visit*waitR, visit*waitI
		v[k] *= complex(skip+(xr*svcR-xi*svcI), xr*svcI+xi*svcR)
	}
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
	// eulerK is the number of transform evaluations.
	eulerK = eulerN + eulerM + 1
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
// transform. Each path's transform is built hop by hop over all the
// inversion's points at once (mulLT), which keeps a hop's numbers at hand
// and gives each point the same products in the same order as one point
// at a time would.
func tail(paths []path, t float64) (surv, dens float64) {
	var total float64
	for _, p := range paths {
		total += p.share
	}
	sr := eulerA / (2 * t)
	var si, si2 [eulerK]float64
	for k := range si {
		si[k] = float64(k) * math.Pi / t
		si2[k] = si[k] * si[k]
	}
	var g, v [eulerK]complex128
	for _, p := range paths {
		start := complex(p.share/total, 0)
		for k := range v {
			v[k] = start
		}
		for _, h := range p.hops {
			h.mulLT(&v, sr, &si, &si2)
		}
		for k := range g {
			g[k] += v[k]
		}
	}
	var fs, fd [eulerK]float64
	for k := range g {
		// real((1-G(s))/s): 1/s = conj(s)/|s|^2, as Go's complex division
		// computes it for a real divisor.
		norm := sr*sr + si2[k]
		invR, invI := sr/norm, -si[k]/norm
		fs[k] = (1-real(g[k]))*invR + imag(g[k])*invI
		fd[k] = real(g[k])
	}
	return eulerSum(t, &fs, &fd)
}

// eulerSum inverts at t the transforms whose real parts at the inversion's
// points are fs (the survival's) and fd (the density's): their trapezoid
// sums, alternating, averaged over the last eulerM+1 partial sums.
func eulerSum(t float64, fs, fd *[eulerK]float64) (surv, dens float64) {
	scale := math.Exp(eulerA/2) / t
	var sumS, sumD float64
	var partS, partD [eulerM + 1]float64
	for k := range fs {
		w := scale
		if k == 0 {
			w /= 2
		} else if k%2 == 1 {
			w = -w
		}
		sumS += w * fs[k]
		sumD += w * fd[k]
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
