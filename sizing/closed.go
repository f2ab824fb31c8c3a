package sizing

import (
	"fmt"
	"math"
)

// closedModel chooses the model that answers for workload w at the counts
// the open model chose (full: its predictions): the closed MVA unless the
// plan asks for the open model or a tier is overloaded at the design rate,
// where a closed population would not reach that rate and the open model
// says by how much. explain fills Why.
//
// The closed population is the concurrent users at the design load, N =
// concurrent * peak factor * growth, with think time Z = 60/TPM s, so that
// N/Z is the design rate; each class has the mix's share of the users.
func (p *plan) closedModel(w Workload, we WorkloadEstimate, full []perf, explain bool) Answer {
	a := Answer{Name: ModelOpen, Throughput: we.DesignRate}
	if p.open {
		if explain {
			a.Why = "the load test drives a constant arrival rate (k6's arrival-rate executors), an open workload: " +
				"each tier is an M/M/c queue fed at that rate"
		}
		return a
	}
	for i, pf := range full {
		if pf.overloaded {
			if explain {
				a.Why = fmt.Sprintf("%s is overloaded at the design rate (%s utilization): a closed population would "+
					"never reach that rate, so the open M/M/c model answers and reports the overload",
					p.tiers[i].spec.Role, pct(pf.util))
			}
			return a
		}
	}
	think := 60 / w.TPM
	pop := we.DesignRate * think
	n := p.network(pop, think)
	if len(n.servers) == 0 {
		if explain {
			a.Why = "no tier has a per-request demand: nothing queues"
		}
		return a
	}
	a.Population, a.ThinkTimeS = pop, think
	cells := exactCells(n.pop, len(n.servers))
	a.Name = ModelApproxMVA
	if cells <= maxExactCells {
		a.Name = ModelExactMVA
	}
	if explain {
		users := fmt.Sprintf("%.0f concurrent users at the design load, each thinking %.3g s between requests, "+
			"are a closed population", pop, think)
		if a.Name == ModelExactMVA {
			a.Why = fmt.Sprintf("%s: exact multi-class MVA (%.0f cells, within its %d limit)", users, cells, maxExactCells)
		} else {
			a.Why = fmt.Sprintf("%s: exact MVA would need %.2g cells (limit %d), so Bard-Schweitzer approximate MVA "+
				"with Seidmann's multi-server stations answers", users, cells, maxExactCells)
		}
	}
	return a
}

// network sets p.net up for a population of pop users with think time
// think s, the mix sharing them out, and returns it; station k is the k-th
// tier with a per-request demand, its servers filled in by closedPerfs.
func (p *plan) network(pop, think float64) *network {
	n := &p.net
	n.pop, n.think, n.demand, n.class = n.pop[:0], n.think[:0], n.demand[:0], n.class[:0]
	stations := 0
	for i := range p.tiers {
		if p.tiers[i].onPath() {
			stations++
		}
	}
	n.servers = append(n.servers[:0], make([]int, stations)...)
	for ci, class := range Classes() {
		share := p.model.Workload.Mix[class]
		if !(share > 0) {
			continue
		}
		n.pop = append(n.pop, pop*share)
		n.class = append(n.class, ci)
		// A delay station is, to a closed network, more think time: a
		// user in it holds no queue's place.
		n.think = append(n.think, think+p.delayS[ci])
		var row []float64
		if len(n.demand) < cap(n.demand) { // reuse the last point's row
			row = n.demand[:len(n.demand)+1][len(n.demand)][:0]
		}
		for i := range p.tiers {
			tp := &p.tiers[i]
			if tp.onPath() {
				row = append(row, tp.spec.Visit*tp.classS[ci])
			}
		}
		n.demand = append(n.demand, row)
	}
	return n
}

// closedPerfs solves p.net (set up by closedModel) with each tier at its
// chosen servers (failover: one HA server down) and replaces perfs with the
// solution: utilization by the utilization law at the solution's
// throughput, means from the residence times, and each tier's p95 and wait
// distribution from the M/M/c shape (the probability of waiting is Erlang
// C at the solved utilization) with the wait's mean set to MVA's. a, when
// not nil, gets the solution's throughput and iterations.
func (p *plan) closedPerfs(choices []choice, failover bool, perfs []perf, a *Answer) {
	n := &p.net
	k := 0
	for i := range p.tiers {
		if !p.tiers[i].onPath() {
			continue
		}
		servers := choices[i].servers
		if failover {
			servers = choices[i].failover
		}
		n.servers[k] = servers * choices[i].cores
		k++
	}
	var sol solution
	if a != nil && a.Name == ModelExactMVA || a == nil && exactCells(n.pop, len(n.servers)) <= maxExactCells {
		sol = n.exact()
	} else {
		slot := 0
		if failover {
			slot = 1
		}
		n.warm = p.warm[slot]
		sol = n.schweitzer()
		p.warm[slot] = n.warm
	}
	if a != nil {
		a.Throughput, a.Iterations = 0, sol.iters
		for _, x := range sol.x {
			a.Throughput += x
		}
	}
	k = 0
	for i := range p.tiers {
		tp := &p.tiers[i]
		if !tp.onPath() {
			continue
		}
		perfs[i] = tp.closedPerf(n, sol, k, !failover || p.guess[1].last == 0)
		k++
	}
}

// closedPerf is tier tp's prediction from station k of a solved network.
// p95 false skips the tier's own p95, which nothing reads at failover
// counts once the end-to-end quantile search has a start (see endToEnd).
func (tp *tierPlan) closedPerf(n *network, sol solution, k int, p95 bool) perf {
	pf := perf{util: n.util(sol, k)}
	var rate, resid, waitSum float64
	for j, c := range n.class {
		if !tp.path.has(c) {
			continue
		}
		x := sol.x[j]
		perVisit := sol.r[j][k] / tp.spec.Visit
		wait := math.Max(0, perVisit-tp.classS[c])
		pf.waitS[c] = wait
		rate += x
		resid += x * perVisit
		waitSum += x * wait
	}
	if rate == 0 {
		return pf
	}
	pf.meanMs = resid / rate * 1000
	m := n.servers[k]
	if sol.waitP != nil {
		pf.waitP = sol.waitP[k]
	} else {
		pf.waitP = erlangC(m, pf.util*float64(m))
	}
	r := response{mu: 1 / tp.serviceS, waitP: pf.waitP}
	if w := waitSum / rate; w > 0 && pf.waitP > 0 {
		r.theta = pf.waitP / w
	} else {
		r.waitP, pf.waitP = 0, 0
	}
	if p95 {
		pf.p95Ms = r.quantile(q95) * 1000
	}
	return pf
}

// onPath says whether the tier is a station of the closed network: it
// serves the users' requests (a demand, on their path). A tier off the path
// (a load generator) keeps the open model's prediction at the design rate.
func (tp *tierPlan) onPath() bool { return tp.used > 0 && tp.path != 0 }

// anyOverloaded reports whether a tier is past 100 % utilization.
func anyOverloaded(perfs []perf) bool {
	for _, pf := range perfs {
		if pf.overloaded {
			return true
		}
	}
	return false
}
