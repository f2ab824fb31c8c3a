package sizing

import "math"

// network is a closed queueing network with think time, the shape of the
// workload the seeds describe: a fixed population of logged-in users, each
// waiting a think time Z between a response and its next request (seed 000:
// 1,800 users, Z = 60 s / 5 requests = 12 s). Its stations are the tiers,
// each with m identical servers (cores) of processor-sharing discipline,
// which is how a CPU-bound server behaves and what keeps the network in
// product form (BCMP) with class-dependent demands.
type network struct {
	pop     []float64   // users of each class
	think   []float64   // think time of each class, s
	servers []int       // servers (cores) at each station
	demand  [][]float64 // [class][station] total demand per request, s (visits included)
	class   []int       // index in Classes() of each class, for the caller
	// warm, when it has the network's shape, is where Bard-Schweitzer
	// starts (the queues of a neighbouring solution: a sweep's previous
	// point), and where it leaves its answer.
	warm [][]float64
	// buf is Bard-Schweitzer's working memory, reused from solve to solve
	// (a sweep solves twice a point): its solution is valid until the next.
	buf struct {
		x, total, scale, rhos, seen []float64
		r, q                        [][]float64
	}
}

// matrix returns m resized to C rows of K zeros, reusing its memory.
func matrix(m [][]float64, C, K int) [][]float64 {
	if cap(m) < C {
		m = make([][]float64, C)
	}
	m = m[:C]
	for c := range m {
		m[c] = vector(m[c], K)
	}
	return m
}

// vector returns v resized to K zeros, reusing its memory.
func vector(v []float64, K int) []float64 {
	if cap(v) < K {
		return make([]float64, K)
	}
	v = v[:K]
	clear(v)
	return v
}

// solution is a network's steady state, per class c and station k.
type solution struct {
	x []float64   // throughput of class c, requests/s
	r [][]float64 // residence time of a class-c request at k (all its visits), s
	q [][]float64 // mean class-c requests at k (queued and in service)
	// waitP is the probability that a request waits at station k, Erlang C
	// at its utilization; nil when the caller is to compute it.
	waitP []float64
	exact bool
	iters int // Bard-Schweitzer iterations; 0 for exact MVA
}

// util is station k's busy share per server, sum_c X_c D_ck / m_k.
func (n *network) util(s solution, k int) float64 {
	var busy float64
	for c := range n.pop {
		busy += s.x[c] * n.demand[c][k]
	}
	return busy / float64(n.servers[k])
}

// maxExactCells bounds exact MVA's work and memory: it keeps every station's
// queue-length distribution at every population vector, so its cost is the
// number of vectors times stations times users. 4 million cells is about
// 32 MB and a few tens of milliseconds; seed 000's 1,800 users in five
// classes would need some 10^14.
const maxExactCells = 4_000_000

// exactCells is the number of cells exact MVA would keep for populations
// pop (rounded to whole users), +Inf past any float.
func exactCells(pop []float64, stations int) float64 {
	states, total := 1.0, 0.0
	for _, p := range pop {
		states *= math.Round(p) + 1
		total += math.Round(p)
	}
	return states * float64(stations) * (total + 1)
}

// exact solves the network by exact multi-class MVA with load-dependent
// stations (Reiser and Lavenberg's recursion over population vectors with
// the marginal queue-length probabilities p_k(j|n)), populations rounded to
// whole users. A station with m servers serves j requests at rate
// min(j, m) times one server's. The caller keeps exactCells within
// maxExactCells.
//
//	R_ck(n) = D_ck * sum_{j=1..|n|} j/min(j,m_k) * p_k(j-1 | n-e_c)
//	X_c(n)  = n_c / (Z_c + sum_k R_ck(n))
//	p_k(j|n) = sum_c D_ck/min(j,m_k) * X_c(n) * p_k(j-1 | n-e_c), j >= 1
//	p_k(0|n) = 1 - sum_{j>=1} p_k(j|n)
func (n *network) exact() solution {
	C, K := len(n.pop), len(n.servers)
	pop := make([]int, C)
	stride := make([]int, C)
	states := 1
	for c := range pop {
		pop[c] = int(math.Round(n.pop[c]))
		stride[c] = states
		states *= pop[c] + 1
	}
	marg := make([][][]float64, states) // [state][station][j]
	vec := make([]int, C)
	x := make([]float64, C)
	r := make([][]float64, C)
	for c := range r {
		r[c] = make([]float64, K)
	}
	for idx := 0; idx < states; idx++ {
		if idx > 0 { // next population vector, mixed radix
			for c := range vec {
				if vec[c] < pop[c] {
					vec[c]++
					break
				}
				vec[c] = 0
			}
		}
		total := 0
		for _, v := range vec {
			total += v
		}
		p := make([][]float64, K)
		for k := range p {
			p[k] = make([]float64, total+1)
		}
		marg[idx] = p
		if total == 0 {
			for k := range p {
				p[k][0] = 1
			}
			continue
		}
		for c := range x {
			x[c] = 0
			if vec[c] == 0 {
				continue
			}
			prev := marg[idx-stride[c]]
			sum := n.think[c]
			for k := range K {
				var w float64
				for j := 1; j <= total; j++ {
					w += float64(j) / float64(min(j, n.servers[k])) * prev[k][j-1]
				}
				r[c][k] = n.demand[c][k] * w
				sum += r[c][k]
			}
			x[c] = float64(vec[c]) / sum
		}
		for k := range K {
			var busy float64
			for j := 1; j <= total; j++ {
				var pj float64
				for c := range x {
					if vec[c] > 0 {
						pj += n.demand[c][k] * x[c] * marg[idx-stride[c]][k][j-1]
					}
				}
				pj /= float64(min(j, n.servers[k]))
				p[k][j] = pj
				busy += pj
			}
			// p_k(0) by difference is the recursion's known weak spot; a
			// tiny negative is rounding, not a state.
			p[k][0] = math.Max(0, 1-busy)
		}
	}
	s := solution{x: x, r: r, q: make([][]float64, C), exact: true}
	for c := range s.q {
		s.q[c] = make([]float64, K)
		for k := range K {
			s.q[c][k] = x[c] * r[c][k]
		}
	}
	return s
}

// schweitzer solves the network by Bard-Schweitzer approximate MVA, whose
// cost does not grow with the population: a request arriving at a station
// sees the steady-state queue with itself removed, Q_k - Q_ck/N_c.
//
// A multi-server station is Seidmann's decomposition of it: a single
// server m times as fast (demand D/m), where the queueing happens, plus a
// pure delay of D(m-1)/m. Seidmann alone overstates the wait at moderate
// load (at 23 % of 12 cores it waits D/m*rho/(1-rho), a few per cent of D,
// where the M/M/12 wait is nil), so the queueing term is scaled by
// C(m, m*rho)/rho, the ratio of the M/M/m wait to that of one m-times-faster
// server at the same utilization (Erlang C over rho). The scale is 1 for
// m = 1 and at saturation, and makes the large-population limit the open
// M/M/c model exactly. The fictitious fast server's own queue, the one
// arrivals see, stays Seidmann's.
//
// Schweitzer's error against exact MVA is a few per cent on the response
// time for small populations and vanishes as they grow (see the tests).
func (n *network) schweitzer() solution {
	C, K := len(n.pop), len(n.servers)
	b := &n.buf
	b.x, b.r, b.q = vector(b.x, C), matrix(b.r, C, K), matrix(b.q, C, K)
	s := solution{x: b.x, r: b.r, q: b.q}
	queued := n.warm // the queueing part's share of q
	if len(queued) != C || C > 0 && len(queued[0]) != K {
		queued = n.openStart()
	}
	n.warm = queued
	b.total, b.scale, b.rhos, b.seen = vector(b.total, K), vector(b.scale, K), vector(b.rhos, K), vector(b.seen, K)
	// total: sum over classes of queued; scale: Erlang C over rho at each
	// station, computed at utilization rhos; seen: the queue an arrival sees.
	total, scale, rhos, seen := b.total, b.scale, b.rhos, b.seen
	const tol = 1e-9
	for s.iters = 1; s.iters <= 10_000; s.iters++ {
		clear(total)
		for c := range C {
			for k := range K {
				total[k] += queued[c][k]
			}
		}
		for k := range K {
			// Erlang C costs O(m): redo it only when the utilization moved.
			if rho := n.util(s, k); s.iters == 1 || math.Abs(rho-rhos[k]) > 1e-10*rho {
				scale[k], rhos[k] = waitScale(n.servers[k], rho), rho
			}
		}
		var change float64
		for c := range C {
			// A class of fewer than one user removes all of itself.
			self := 1.0
			if n.pop[c] > 1 {
				self = 1 / n.pop[c]
			}
			sum := n.think[c]
			norm := math.Max(1, n.pop[c])
			for k := range K {
				// The queue an arriving class-c request finds: everyone's
				// but its own share of itself.
				seen[k] = math.Max(0, total[k]-queued[c][k]*self)
				s.r[c][k] = n.demand[c][k] * (1 + seen[k]*scale[k]/float64(n.servers[k]))
				sum += s.r[c][k]
			}
			if n.pop[c] == 0 || sum == 0 {
				s.x[c] = 0
			} else {
				s.x[c] = n.pop[c] / sum
			}
			for k := range K {
				next := s.x[c] * n.demand[c][k] / float64(n.servers[k]) * (1 + seen[k])
				if dq := math.Abs(next-queued[c][k]) / norm; dq > change {
					change = dq
				}
				queued[c][k] = next
			}
		}
		if change < tol {
			break
		}
	}
	for c := range C {
		for k := range K {
			s.q[c][k] = s.x[c] * s.r[c][k]
		}
	}
	// The probability of waiting at the solution's own utilization: rhos
	// holds the one each iteration started from, which is the previous
	// iteration's throughput, and nothing at all when a warm start
	// converged in the first iteration (it then said no request ever
	// waits, and a tier's p95 came out below its mean).
	s.waitP = rhos
	for k := range K {
		rho := n.util(s, k)
		if n.servers[k] == 1 {
			s.waitP[k] = rho // C(1, rho) = rho
		} else {
			s.waitP[k] = waitScale(n.servers[k], rho) * rho
		}
	}
	return s
}

// openStart is where Bard-Schweitzer starts without a neighbour's answer:
// each class at the throughput it would have with no queueing, and each
// station's fast server holding the M/M/1 queue of that load (capped short
// of saturation). Near the answer at light load, and within a factor at
// heavy load, where starting from empty queues takes hundreds of rounds.
func (n *network) openStart() [][]float64 {
	C, K := len(n.pop), len(n.servers)
	x := make([]float64, C)
	for c := range C {
		cycle := n.think[c]
		for k := range K {
			cycle += n.demand[c][k]
		}
		if cycle > 0 {
			x[c] = n.pop[c] / cycle
		}
	}
	queued := make([][]float64, C)
	for c := range C {
		queued[c] = make([]float64, K)
	}
	for k := range K {
		var rho float64
		for c := range C {
			rho += x[c] * n.demand[c][k] / float64(n.servers[k])
		}
		rho = math.Min(rho, 0.99)
		for c := range C {
			queued[c][k] = x[c] * n.demand[c][k] / float64(n.servers[k]) / (1 - rho)
		}
	}
	return queued
}

// waitScale is C(m, m*rho)/rho, the M/M/m wait over the wait of one server
// m times as fast at the same utilization rho: 1 for one server, tending to
// 0 with rho for more.
func waitScale(m int, rho float64) float64 {
	if m <= 1 {
		return 1
	}
	if rho <= 1e-12 {
		return 0
	}
	if rho >= 1 {
		return 1
	}
	return erlangC(m, rho*float64(m)) / rho
}

// solve answers with exact MVA when it is affordable, Bard-Schweitzer
// otherwise.
func (n *network) solve() solution {
	if exactCells(n.pop, len(n.servers)) <= maxExactCells {
		return n.exact()
	}
	return n.schweitzer()
}
