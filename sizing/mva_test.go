package sizing

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A two-station network with one class, solved by hand: N = 2 users,
// think time Z = 1 s, demands 0.1 s and 0.2 s at single servers.
//
//	n=1: R = 0.1, 0.2; X = 1/1.3 = 0.769231; Q = 0.076923, 0.153846
//	n=2: R = 0.1*1.076923 = 0.107692, 0.2*1.153846 = 0.230769
//	     X = 2/(1 + 0.338462) = 1.494253; Q = X*R = 0.160920, 0.344828
func TestExactMVAHandSolved(t *testing.T) {
	n := network{pop: []float64{2}, think: []float64{1}, servers: []int{1, 1}, demand: [][]float64{{0.1, 0.2}}}
	for _, sol := range []solution{n.exact(), n.schweitzer()} {
		if !sol.exact {
			// Bard-Schweitzer is approximate even here; it gets its own
			// tolerance below.
			if !near(sol.x[0], 1.494253, 0.03) {
				t.Errorf("schweitzer X = %v, want near 1.494253", sol.x[0])
			}
			continue
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"X", sol.x[0], 1.494253},
			{"R1", sol.r[0][0], 0.107692},
			{"R2", sol.r[0][1], 0.230769},
			{"Q1", sol.q[0][0], 0.160920},
			{"Q2", sol.q[0][1], 0.344828},
		} {
			if !near(c.got, c.want, 1e-5) {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
	}
}

// Two users at a two-server station never queue: R = D exactly, whatever
// the think time.
func TestExactMVAMultiServerNoQueue(t *testing.T) {
	n := network{pop: []float64{2}, think: []float64{0.5}, servers: []int{2}, demand: [][]float64{{0.3}}}
	sol := n.exact()
	if !near(sol.r[0][0], 0.3, 1e-12) || !near(sol.x[0], 2/0.8, 1e-12) {
		t.Errorf("R = %v, X = %v; want 0.3 and 2.5", sol.r[0][0], sol.x[0])
	}
}

// productForm solves a small network by brute force from its product-form
// stationary distribution (BCMP, processor-sharing stations with
// load-dependent rate min(j,m)): P(state) is proportional to
// prod_c Z_c^{n_c0}/n_c0! * prod_k |n_k|!/prod_{j<=|n_k|} min(j,m_k) *
// prod_c D_ck^{n_ck}/n_ck!. Throughput is X_c = E[n_c0]/Z_c: an
// independent check of the exact MVA recursion.
func productForm(n network) []float64 {
	C, K := len(n.pop), len(n.servers)
	fact := func(k int) float64 { return math.Gamma(float64(k) + 1) }
	var g float64
	thinking := make([]float64, C)
	// counts[c] spreads class c's users over think (0) and stations 1..K.
	counts := make([][]int, C)
	for c := range counts {
		counts[c] = make([]int, K+1)
	}
	var visit func(c, slot, left int)
	weight := func() float64 {
		w := 1.0
		for c := range C {
			w *= math.Pow(n.think[c], float64(counts[c][0])) / fact(counts[c][0])
		}
		for k := range K {
			tot := 0
			for c := range C {
				tot += counts[c][k+1]
				w *= math.Pow(n.demand[c][k], float64(counts[c][k+1])) / fact(counts[c][k+1])
			}
			w *= fact(tot)
			for j := 1; j <= tot; j++ {
				w /= float64(min(j, n.servers[k]))
			}
		}
		return w
	}
	visit = func(c, slot, left int) {
		if c == C {
			w := weight()
			g += w
			for cc := range C {
				thinking[cc] += w * float64(counts[cc][0])
			}
			return
		}
		if slot == K {
			counts[c][K] = left
			visit(c+1, 0, int(n.pop[min(c+1, C-1)]))
			return
		}
		for v := 0; v <= left; v++ {
			counts[c][slot] = v
			visit(c, slot+1, left-v)
		}
	}
	visit(0, 0, int(n.pop[0]))
	x := make([]float64, C)
	for c := range C {
		x[c] = thinking[c] / g / n.think[c]
	}
	return x
}

func TestExactMVAAgainstProductForm(t *testing.T) {
	tests := []struct {
		name string
		n    network
	}{
		{"two classes, single servers", network{pop: []float64{3, 2}, think: []float64{1, 2},
			servers: []int{1, 1}, demand: [][]float64{{0.2, 0.1}, {0.05, 0.4}}}},
		{"two classes, a two-server station", network{pop: []float64{3, 2}, think: []float64{0.5, 1},
			servers: []int{2, 1}, demand: [][]float64{{0.3, 0.1}, {0.6, 0.2}}}},
		{"three classes, three stations", network{pop: []float64{2, 2, 1}, think: []float64{1, 1, 1},
			servers: []int{1, 4, 2}, demand: [][]float64{{0.1, 0.5, 0.2}, {0.3, 0.2, 0}, {0, 1, 0.4}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := productForm(tt.n)
			got := tt.n.exact()
			for c := range want {
				if !near(got.x[c], want[c], 1e-9) {
					t.Errorf("class %d: X = %v, product form %v", c, got.x[c], want[c])
				}
			}
		})
	}
}

// randomNetwork draws a small multi-class network for the property tests.
func randomNetwork(rng *rand.Rand, maxPop int) network {
	C, K := 1+rng.IntN(3), 1+rng.IntN(4)
	n := network{pop: make([]float64, C), think: make([]float64, C), servers: make([]int, K), demand: make([][]float64, C)}
	for k := range K {
		n.servers[k] = 1 << rng.IntN(3)
	}
	for c := range C {
		n.pop[c] = float64(rng.IntN(maxPop + 1))
		n.think[c] = 0.1 + 2*rng.Float64()
		n.demand[c] = make([]float64, K)
		for k := range K {
			if rng.IntN(4) > 0 {
				n.demand[c][k] = 0.01 + 0.3*rng.Float64()
			}
		}
	}
	return n
}

// The utilization law (U_k = sum_c X_c D_ck / m_k, at most 1), Little's law
// at every station (Q = X R) and over the whole cycle (N_c = X_c (Z_c +
// sum_k R_ck)) hold for every solution, exact or approximate.
func TestPropertyMVALaws(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 1))
	for i := range 500 {
		n := randomNetwork(rng, 6)
		for _, sol := range []solution{n.exact(), n.schweitzer()} {
			for k := range n.servers {
				if u := n.util(sol, k); u < 0 || u > 1+1e-9 {
					t.Fatalf("case %d (exact %v): station %d utilization %v", i, sol.exact, k, u)
				}
			}
			for c := range n.pop {
				cycle := n.think[c]
				for k := range n.servers {
					cycle += sol.r[c][k]
					if !near(sol.q[c][k], sol.x[c]*sol.r[c][k], 1e-12) {
						t.Fatalf("case %d: Q %v != X R %v", i, sol.q[c][k], sol.x[c]*sol.r[c][k])
					}
					if n.pop[c] > 0 && sol.r[c][k] < n.demand[c][k]*(1-1e-12) {
						t.Fatalf("case %d: residence %v below the demand %v", i, sol.r[c][k], n.demand[c][k])
					}
				}
				if !near(sol.x[c]*cycle, n.pop[c], 1e-9) && n.pop[c] > 0 {
					t.Fatalf("case %d (exact %v): class %d: X (Z + R) = %v, population %v", i, sol.exact, c, sol.x[c]*cycle, n.pop[c])
				}
			}
		}
	}
}

// Bard-Schweitzer stays near exact MVA on the small networks exact MVA can
// solve: throughput within 15 %, the cycle's response time within 30 %.
// These are its worst cases (a few users saturating a multi-server
// station, where Seidmann's decomposition is coarsest);
// its error shrinks as populations grow, which is where it answers.
func TestSchweitzerNearExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2))
	var worstX, worstR float64
	for i := range 300 {
		n := randomNetwork(rng, 8)
		for c := range n.pop {
			n.pop[c] = float64(4 + rng.IntN(6)) // no class of one or two users: not where it answers
		}
		ex, ap := n.exact(), n.schweitzer()
		for c := range n.pop {
			if n.pop[c] == 0 {
				continue
			}
			var re, ra float64
			for k := range n.servers {
				re += ex.r[c][k]
				ra += ap.r[c][k]
			}
			worstX = math.Max(worstX, math.Abs(ap.x[c]/ex.x[c]-1))
			if re > 0 {
				worstR = math.Max(worstR, math.Abs(ra/re-1))
			}
			if !near(ap.x[c], ex.x[c], 0.15) || !near(ra, re, 0.30) {
				t.Fatalf("case %d class %d: schweitzer X %v R %v, exact X %v R %v (%+v)", i, c, ap.x[c], ra, ex.x[c], re, n)
			}
		}
	}
	t.Logf("worst relative error: throughput %.3f, response %.3f", worstX, worstR)
}

// At low load a closed population behaves like Poisson arrivals at its
// throughput: MVA's residence times meet the open M/M/c model's mean.
func TestClosedMatchesOpenAtLowLoad(t *testing.T) {
	for _, m := range []int{1, 2, 4, 12} {
		// Many users thinking long: about 10 % utilization per server.
		d := 0.02
		for _, tt := range []struct {
			name string
			n    network
		}{
			{"exact", network{pop: []float64{40}, think: []float64{40 * d / (0.1 * float64(m))}, servers: []int{m}, demand: [][]float64{{d}}}},
			{"schweitzer", network{pop: []float64{5000}, think: []float64{5000 * d / (0.1 * float64(m))}, servers: []int{m}, demand: [][]float64{{d}}}},
		} {
			sol := tt.n.solve()
			if (tt.name == "exact") != sol.exact {
				t.Fatalf("%s: solve chose exact=%v", tt.name, sol.exact)
			}
			open := station{c: m, lambda: sol.x[0], s: d}.response().mean()
			if !near(sol.r[0][0], open, 0.01) {
				t.Errorf("%s, %d servers: closed R %v, open M/M/c mean %v at the same rate", tt.name, m, sol.r[0][0], open)
			}
		}
	}
}
