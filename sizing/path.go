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
//
// carry, in [0, 1], is how much of the path's previous waiting hop's wait
// this hop's keeps: with probability carry the request waits here what it
// waited there (the same queue's backlog, met again), else it waits
// afresh. 0 (Size's tiers, each on cores of its own) makes the hops'
// waits independent; PredictHere sets it when every hop queues for the
// same cores, whose backlog a request meets again at its next hop unless
// the queue has relaxed in between (see pathLT).
type hop struct {
	visit, waitP, theta, mu float64
	stages                  int
	carry                   float64
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

// svcLT is the transform of the hop's service time.
func (h hop) svcLT(s complex128) complex128 {
	if h.stages <= 1 {
		return expLT(h.mu, s)
	}
	// Erlang-k: k exponential stages of rate k*mu, (k mu/(k mu + s))^k.
	return powC(expLT(float64(h.stages)*h.mu, s), h.stages)
}

// lt is the Laplace transform of the hop's time, E[e^{-sT}], its wait
// independent of every other hop's.
func (h hop) lt(s complex128) complex128 {
	svc := h.svcLT(s)
	wait := complex(1-h.waitP, 0)
	if h.waitP > 0 {
		wait += complex(h.waitP, 0) * expLT(h.theta, s)
	}
	return complex(1-h.visit, 0) + complex(h.visit, 0)*wait*svc
}

// chained says whether a path's hops need pathLT's chain: whether any
// waiting hop carries its predecessor's wait.
func chained(hops []hop) bool {
	for _, h := range hops {
		if h.carry > 0 && h.waitP > 0 {
			return true
		}
	}
	return false
}

// pathLT is weight times the transform of a path's time, the sum of its
// hops' times, for a path whose waits carry (chained: PredictHere's);
// tail takes a path without carry hop by hop (mulLT), to the bit as
// before.
//
// With carry the waiting hops share one queue (one waitP and theta, as
// PredictHere's hops do), and a request's waits are that queue's backlog
// seen again: at each waiting hop after the first the request keeps,
// with probability carry, the previous waiting hop's wait, the same time
// W (busy or not, and for as long), else meets the queue afresh (waits
// with probability waitP an exponential time of rate theta). So the path's
// waits come in blocks of hops sharing one W, and a block whose request
// visits j of its hops waits j W, whose transform is theta/(theta + j s).
// The transform is carried as one value for "not waiting" and one per
// count j of the open block's visited hops, closed at each fresh draw and
// at the end: O(hops^2) a point. Each hop still waits with probability
// waitP an exponential time of rate theta, so every mean is the
// independent form's; the sum's tail grows with carry (carry 0: the
// hops' waits independent; carry 1: the request waits the same W at
// every hop it visits, or nowhere).
func pathLT(hops []hop, s, weight complex128) complex128 {
	free := weight
	// busy[j]: the open block's request has visited j of its hops.
	var onStack [8]complex128
	busy := onStack[:1]
	if len(hops)+1 > len(onStack) {
		busy = make([]complex128, 1, len(hops)+1)
	}
	busy[0] = 0
	theta := 0.0
	closed := func() complex128 {
		c := free
		for j, b := range busy {
			if b != 0 {
				c += b * expLT(theta, s*complex(float64(j), 0))
			}
		}
		return c
	}
	first := true
	for _, h := range hops {
		if !(h.waitP > 0) {
			// No queue here (a delay station): every state passes through.
			f := h.lt(s)
			free *= f
			for j := range busy {
				busy[j] *= f
			}
			continue
		}
		k := h.carry
		if first {
			k, first = 0, false
		}
		if k < 1 {
			fresh := closed() * complex(1-k, 0)
			free = free*complex(k, 0) + fresh*complex(1-h.waitP, 0)
			for j := range busy {
				busy[j] *= complex(k, 0)
			}
			busy[0] += fresh * complex(h.waitP, 0)
		}
		theta = h.theta
		svc := complex(h.visit, 0) * h.svcLT(s)
		skip := complex(1-h.visit, 0)
		free *= skip + svc
		busy = append(busy, 0)
		for j := len(busy) - 1; j >= 1; j-- {
			busy[j] = busy[j]*skip + busy[j-1]*svc
		}
		busy[0] *= skip
	}
	return closed()
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
		if chained(p.hops) {
			// Correlated waits (PredictHere's): the chain's transform one
			// point at a time.
			for k := range g {
				g[k] += pathLT(p.hops, complex(sr, si[k]), start)
			}
			continue
		}
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
