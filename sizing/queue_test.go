package sizing

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-300)
}

// Values worked by hand from B(c) = a B(c-1) / (c + a B(c-1)).
func TestErlangB(t *testing.T) {
	tests := []struct {
		name string
		c    int
		a    float64
		want float64
	}{
		{"one server, one erlang", 1, 1, 0.5},
		{"two servers, one erlang", 2, 1, 0.2},
		{"three servers, two erlangs", 3, 2, 4.0 / 19},
		{"no load", 5, 0, 0},
		{"no servers", 0, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := erlangB(tt.c, tt.a); !near(got, tt.want, 1e-12) {
				t.Errorf("erlangB(%d, %v) = %v, want %v", tt.c, tt.a, got, tt.want)
			}
		})
	}
}

// erlangCClosedForm is the textbook sum, evaluated in log space with
// log-sum-exp so that it is a second, independent way to the same number
// that also works for large c.
func erlangCClosedForm(c int, a float64) float64 {
	logTerm := func(k int) float64 { lg, _ := math.Lgamma(float64(k + 1)); return float64(k)*math.Log(a) - lg }
	last := logTerm(c) + math.Log(float64(c)/(float64(c)-a))
	terms := []float64{last}
	for k := range c {
		terms = append(terms, logTerm(k))
	}
	top := slices.Max(terms)
	var sum float64
	for _, x := range terms {
		sum += math.Exp(x - top)
	}
	return math.Exp(last - top - math.Log(sum))
}

func TestErlangC(t *testing.T) {
	tests := []struct {
		name string
		c    int
		a    float64
		want float64
	}{
		// M/M/1: the probability of waiting is rho.
		{"M/M/1 rho 0.5", 1, 0.5, 0.5},
		{"M/M/1 rho 0.9", 1, 0.9, 0.9},
		// By hand: B = 0.2, C = 0.2 / (1 - 0.5*0.8) = 1/3.
		{"two servers, one erlang", 2, 1, 1.0 / 3},
		// By hand: B = 4/19, C = (4/19) / (1 - (2/3)(15/19)) = 4/9.
		{"three servers, two erlangs", 3, 2, 4.0 / 9},
		// Call-centre textbook case: 10 agents, 8 erlangs -> 40.9 % wait.
		{"ten servers, eight erlangs", 10, 8, erlangCClosedForm(10, 8)},
		{"unstable", 4, 4, 1},
		{"large pool", 2000, 1900, erlangCClosedForm(2000, 1900)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := erlangC(tt.c, tt.a); !near(got, tt.want, 1e-9) {
				t.Errorf("erlangC(%d, %v) = %v, want %v", tt.c, tt.a, got, tt.want)
			}
		})
	}
	if got := erlangC(10, 8); math.Abs(got-0.409) > 0.001 {
		t.Errorf("erlangC(10, 8) = %.4f, the textbook gives 0.409", got)
	}
}

// For M/M/1 the response time is exponential with rate mu - lambda.
func TestResponseMM1(t *testing.T) {
	q := station{c: 1, lambda: 5, s: 0.1}
	r := q.response()
	if got, want := r.mean(), 0.2; !near(got, want, 1e-12) {
		t.Errorf("mean = %v, want %v", got, want)
	}
	if got, want := r.quantile(0.95), math.Log(20)/5; !near(got, want, 1e-9) {
		t.Errorf("p95 = %v, want %v", got, want)
	}
}

// With c*mu - lambda equal to mu the wait and the service have the same
// rate, where the general formula divides by zero; the survival must then be
// (1-C) e^{-t} + C (1+t) e^{-t}, and nearby rates must agree with it.
func TestResponseEqualRates(t *testing.T) {
	for _, lambda := range []float64{1, 1 + 1e-9, 1 - 1e-9, 1 + 1e-4} {
		r := station{c: 2, lambda: lambda, s: 1}.response()
		for _, tt := range []float64{0.1, 1, 3, 10} {
			got, _ := r.survival(tt)
			want := (1-1.0/3)*math.Exp(-tt) + 1.0/3*(1+tt)*math.Exp(-tt)
			if !near(got, want, 1e-3) {
				t.Errorf("lambda %v: P(T > %v) = %v, want %v", lambda, tt, got, want)
			}
		}
	}
}

// The quantile must invert the survival function, across loads from idle to
// nearly saturated, small and large pools.
func TestQuantileInvertsSurvival(t *testing.T) {
	for _, c := range []int{1, 2, 8, 64, 500} {
		for _, rho := range []float64{0, 0.01, 0.3, 0.6, 0.9, 0.99, 0.9999} {
			q := station{c: c, lambda: rho * float64(c) / 0.02, s: 0.02}
			r := q.response()
			p95 := r.quantile(0.95)
			s, _ := r.survival(p95)
			if math.Abs(s-0.05) > 1e-9 {
				t.Errorf("c %d rho %v: P(T > p95=%v) = %v, want 0.05", c, rho, p95, s)
			}
			if p95 < math.Log(20)*q.s*(1-1e-9) {
				t.Errorf("c %d rho %v: p95 %v is below the service time's own p95", c, rho, p95)
			}
		}
	}
}

// simulate runs a first-come-first-served M/M/c queue for n requests and
// returns the mean and the 95th percentile of their response times.
func simulate(q station, n int, rng *rand.Rand) (mean, p95 float64) {
	free := make([]float64, q.c) // when each server is next free
	resp := make([]float64, n)
	var now, sum float64
	for i := range resp {
		now += rng.ExpFloat64() / q.lambda
		k := 0
		for j := range free {
			if free[j] < free[k] {
				k = j
			}
		}
		start := math.Max(now, free[k])
		free[k] = start + rng.ExpFloat64()*q.s
		resp[i] = free[k] - now
		sum += resp[i]
	}
	slices.Sort(resp)
	return sum / float64(n), resp[int(0.95*float64(n))]
}

// The M/M/c formulas against a discrete-event simulation of the same queue.
// Loads stay at or below 90 %: nearer saturation a simulation needs millions
// of requests to settle (at 95 % on 16 cores it takes 4 million to come
// within 4 %), which is too slow for a unit test.
func TestResponseAgainstSimulation(t *testing.T) {
	tests := []struct {
		name string
		q    station
	}{
		{"one core at 80 %", station{c: 1, lambda: 8, s: 0.1}},
		{"four cores at 80 %", station{c: 4, lambda: 32, s: 0.1}},
		{"eight cores at 60 %", station{c: 8, lambda: 48, s: 0.1}},
		{"sixteen cores at 90 %", station{c: 16, lambda: 144, s: 0.1}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mean, p95 := simulate(tt.q, 400_000, rng)
			r := tt.q.response()
			if !near(r.mean(), mean, 0.04) {
				t.Errorf("mean %.4f s, simulation %.4f s", r.mean(), mean)
			}
			if !near(r.quantile(0.95), p95, 0.04) {
				t.Errorf("p95 %.4f s, simulation %.4f s", r.quantile(0.95), p95)
			}
		})
	}
}
