package sizing

import "math"

// station is an M/M/c queue: Poisson arrivals at lambda per second, c
// identical servers (here: cores), exponential service with mean s seconds,
// first come first served. A tier is one station whose c is servers*cores:
// the load balancer spreads requests so evenly that the pool behaves like one
// queue in front of all cores, which is the usual planning simplification.
type station struct {
	c      int
	lambda float64
	s      float64
}

// q95 is the quantile the model predicts.
const q95 = 0.95

// erlangB returns the Erlang B blocking probability for c servers and an
// offered load of a erlangs, by the recursion B(0)=1,
// B(k) = a*B(k-1) / (k + a*B(k-1)), run on its reciprocal
// 1/B(k) = 1 + (k/a) / B(k-1) so that each step is a multiply-add instead of
// a division (sweeps spend much of their time here). Every term is positive,
// so unlike the textbook a^c/c! form it neither cancels nor overflows short
// of 1/B beyond 1e308, where B is 0 to double precision anyway.
func erlangB(c int, a float64) float64 {
	if c <= 0 {
		return 1
	}
	if a <= 0 {
		return 0
	}
	inv, ia := 1.0, 1/a
	for k := 1; k <= c; k++ {
		inv = 1 + inv*float64(k)*ia
	}
	return 1 / inv
}

// erlangC returns the probability that an arriving request has to wait in an
// M/M/c queue with offered load a = lambda*s erlangs, from Erlang B:
// C = B / (1 - rho*(1-B)), rho = a/c. It is 1 when the queue is unstable.
func erlangC(c int, a float64) float64 {
	if c <= 0 {
		return 1
	}
	rho := a / float64(c)
	if rho >= 1 {
		return 1
	}
	b := erlangB(c, a)
	return b / (1 - rho*(1-b))
}

// utilization is the busy share of each server, rho = lambda*s/c.
func (q station) utilization() float64 { return q.lambda * q.s / float64(q.c) }

// stable reports whether the queue has a steady state (rho < 1).
func (q station) stable() bool { return q.c > 0 && q.utilization() < 1 }

// response is the distribution of the response time T = W + S: with
// probability 1-C no wait, otherwise a wait W ~ Exp(theta), theta = c*mu -
// lambda, independent of the service S ~ Exp(mu).
type response struct {
	mu, theta, waitP float64
}

func (q station) response() response {
	mu := 1 / q.s
	return response{mu: mu, theta: float64(q.c)*mu - q.lambda, waitP: erlangC(q.c, q.lambda*q.s)}
}

// mean is E[T] = 1/mu + C/theta, in seconds.
func (r response) mean() float64 { return 1/r.mu + r.waitP/r.theta }

// hypo returns P(W+S > t) and its density for W ~ Exp(theta), S ~ Exp(mu).
// With d = theta-mu the survival is e^{-mu t} (1 + mu t phi(d t)) and the
// density theta mu t e^{-mu t} phi(d t), phi(x) = (1-e^{-x})/x, which stays
// exact when theta is close to mu, where the textbook form
// (theta e^{-mu t} - mu e^{-theta t})/(theta-mu) cancels catastrophically.
func (r response) hypo(t float64) (surv, dens float64) {
	d := r.theta - r.mu
	x := d * t
	if x < -30 {
		// theta much smaller than mu: e^{-mu t} underflows relative to
		// e^{-theta t}, so use the direct form, which is well conditioned here.
		em, et := math.Exp(-r.mu*t), math.Exp(-r.theta*t)
		return (r.mu*et - r.theta*em) / (r.mu - r.theta), r.theta * r.mu * (et - em) / (r.mu - r.theta)
	}
	phi := 1.0
	if x != 0 {
		phi = -math.Expm1(-x) / x
	}
	em := math.Exp(-r.mu * t)
	return em * (1 + r.mu*t*phi), r.theta * r.mu * t * em * phi
}

// survival returns P(T > t) and the density of T at t.
func (r response) survival(t float64) (surv, dens float64) {
	em := math.Exp(-r.mu * t)
	surv, dens = (1-r.waitP)*em, (1-r.waitP)*r.mu*em
	if r.waitP > 0 {
		hs, hd := r.hypo(t)
		surv += r.waitP * hs
		dens += r.waitP * hd
	}
	return surv, dens
}

// quantile returns the t with P(T <= t) = p. The service time alone reaches
// that quantile at ln(1/(1-p))/mu and waiting only adds, so the search starts
// there, or at the wait's own quantile plus that when waits are likely, and
// runs Newton's method on ln P(T > t) (solveSurvival): three to five steps
// reach 1e-10.
func (r response) quantile(p float64) float64 {
	logQ := math.Log(1 - p)
	lo := -logQ / r.mu
	if r.waitP == 0 {
		return lo
	}
	t := lo + math.Max(0, math.Log(r.waitP)-logQ)/r.theta
	return solveSurvival(r, p, lo, t, 1e-10)
}

// survivor is a distribution with survival(t) = P(T > t) and the density
// at t.
type survivor interface {
	survival(t float64) (surv, dens float64)
}

// solveSurvival returns the t with surv(t) = 1-p, surv a survival function
// returning P(T > t) and the density at t, by Newton's method on
// ln P(T > t) (close to linear in t for these exponential-tailed times)
// from t, known to be at least lo; it stops when a step is below tol
// times t. A step that would leave the bracket the iterates have
// established is replaced by bisection (or doubling while no upper bound
// is known), as is one the density cannot give.
//
// A type parameter rather than a func value: a method value or closure
// passed on escapes, and sweeps solve millions of quantiles.
func solveSurvival[S survivor](surv S, p, lo, t, tol float64) float64 {
	logQ := math.Log(1 - p)
	hi := math.Inf(1)
	for range 100 {
		s, d := surv.survival(t)
		g := math.Log(s) - logQ
		if g > 0 {
			lo = t
		} else {
			hi = t
		}
		if !math.IsInf(hi, 1) && hi-lo <= tol*hi {
			return t
		}
		next := math.NaN()
		if s > 0 && d > 0 {
			step := g * s / d
			if math.Abs(step) <= tol*t {
				return t + step
			}
			next = t + step
		}
		if !(next > lo && next < hi) {
			if math.IsInf(hi, 1) {
				next = 2 * t
			} else {
				next = (lo + hi) / 2
			}
		}
		t = next
	}
	return t
}
