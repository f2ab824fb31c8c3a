package sizing

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// simEvent is a job's end on one of the pool's cores.
type simEvent struct {
	at  float64
	req int
}

type simEvents []simEvent

func (e simEvents) Len() int           { return len(e) }
func (e simEvents) Less(i, j int) bool { return e[i].at < e[j].at }
func (e simEvents) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *simEvents) Push(x any)        { *e = append(*e, x.(simEvent)) }
func (e *simEvents) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// simulateSharedPool runs requests arriving at rate (Poisson) through a
// pool of c cores served first come first served, each request a sequence
// of jobs (hops) of mean means[i], Erlang of stages, each job rejoining
// the queue's tail as the previous one ends: every hop of a request
// queues for the same cores, as on the local target. It returns the
// requests' response times, after a warm-up.
func simulateSharedPool(rate float64, c int, means []float64, stages, n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 18))
	svc := func(m float64) float64 {
		t := 0.0
		for range stages {
			t += rng.ExpFloat64() * m / float64(stages)
		}
		return t
	}
	type req struct {
		start float64
		hop   int
	}
	reqs := make([]req, 0, n+n/10)
	var queue []int // request ids waiting for a core, FCFS
	var ends simEvents
	busy := 0
	next := rng.ExpFloat64() / rate
	var times []float64
	warm := n / 10
	start := func(id int, now float64) {
		busy++
		heap.Push(&ends, simEvent{at: now + svc(means[reqs[id].hop]), req: id})
	}
	enqueue := func(id int, now float64) {
		if busy < c {
			start(id, now)
			return
		}
		queue = append(queue, id)
	}
	for len(times) < n {
		if ends.Len() == 0 || next < ends[0].at {
			now := next
			reqs = append(reqs, req{start: now})
			enqueue(len(reqs)-1, now)
			next = now + rng.ExpFloat64()/rate
			continue
		}
		ev := heap.Pop(&ends).(simEvent)
		busy--
		if len(queue) > 0 {
			id := queue[0]
			queue = queue[1:]
			start(id, ev.at)
		}
		r := &reqs[ev.req]
		if r.hop++; r.hop < len(means) {
			enqueue(ev.req, ev.at)
			continue
		}
		if ev.req >= warm {
			times = append(times, ev.at-r.start)
		}
	}
	return times
}

// The shared pool's p95, simulated, against the path model's with the
// hops' waits independent (Size's form) and correlated as PredictHere
// makes them (carry e^{-relax lag}, relax the pool's decay rate, nothing
// fitted): seed 001's calibrated path on 2 cores (six jobs of 0.25-0.56
// ms, the generator's included, Erlang-2), 400,000 requests with a fixed
// seed at 23, 46 and 63 % busy. Every form keeps the simulated mean; at
// 46 and 63 % the independent form's p95 is 17 and 26 % below the
// simulation's (the local target's 2x runs measured 26-39 % below), the
// correlated form's within 3 %. The simulated p95's 99.9 % interval is
// about +-1 % at this n.
func TestSharedPoolAgainstSimulation(t *testing.T) {
	means := []float64{0.3e-3, 0.56e-3, 0.55e-3, 0.25e-3, 0.29e-3, 0.35e-3}
	const c, stages = 2, 2
	var demand float64
	for _, m := range means {
		demand += m
	}
	for _, rate := range []float64{200, 400, 550} {
		times := simulateSharedPool(rate, c, means, stages, 400_000, 7)
		slices.Sort(times)
		var simMean float64
		for _, x := range times {
			simMean += x / float64(len(times))
		}
		simP95 := times[int(q95*float64(len(times)))]
		pool := station{c: c, lambda: rate * float64(len(means)), s: demand / float64(len(means))}
		r := pool.response()
		relax := relaxRate(pool)
		p95 := map[bool]float64{}
		for _, correlated := range []bool{false, true} {
			var hops []hop
			lag, mean := 0.0, 0.0
			for _, m := range means {
				h := hop{visit: 1, mu: 1 / m, stages: stages, waitP: r.waitP, theta: r.theta}
				if correlated {
					h.carry = math.Exp(-relax * lag)
				}
				hops = append(hops, h)
				lag = m + r.waitP/r.theta
				mean += lag
			}
			p95[correlated] = pathQuantile([]path{{share: 1, hops: hops}}, q95, 0.01)
			if !near(mean, simMean, 0.02) {
				t.Errorf("rate %v: model mean %v s, simulated %v", rate, mean, simMean)
			}
		}
		ind, cor := p95[false]/simP95-1, p95[true]/simP95-1
		t.Logf("rate %v (%.0f %% busy, waitP %.2f, relax %.0f/s): simulated mean %.2f ms, p95 %.2f; p95 independent %.2f (%+.1f %%), correlated %.2f (%+.1f %%)",
			rate, rate*demand/c*100, r.waitP, relax, simMean*1000, simP95*1000, p95[false]*1000, ind*100, p95[true]*1000, cor*100)
		if math.Abs(cor) > 0.06 || math.Abs(cor) > math.Abs(ind) {
			t.Errorf("rate %v: correlated p95 %+.1f %% off the simulation's, independent %+.1f %%", rate, cor*100, ind*100)
		}
	}
}
