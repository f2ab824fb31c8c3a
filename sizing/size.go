package sizing

import (
	"fmt"
	"math"
)

// Size validates m (after WithDefaults) and sizes every tier at the design
// rate. Errors are *crmplan.Error with code EINVALID naming the plan path of
// the bad field ("workload.named_users", "tiers[2].visit").
//
// How the server count is chosen, per tier:
//
//  1. load count: the fewest servers with utilization lambda*D/(n*cores) at
//     or below the target. A tier capped by MaxServers doubles its cores
//     instead (scale-up), up to MaxCores.
//  2. SLO: the end-to-end p95 is predicted per request class as the sum of
//     the per-tier p95 along the class's path, and the worst class counts
//     (see endToEnd). The SLO is apportioned to the tiers in proportion to
//     their unavoidable p95, the p95 of their service time alone (ln 20
//     times the mean service time): every tier gets the same relative slack
//     for queueing, the largest that keeps the tightest path within the SLO.
//     Each tier then takes the fewest servers (from its load count up) whose
//     M/M/c p95 fits its budget. Tiers with a fixed count spend their
//     predicted p95 first. A greedy search adding servers where they cut the
//     total most would use a few servers fewer, but its choice for one tier
//     depends on the others' loads, so a larger workload could shrink a
//     tier; the proportional budget keeps every tier's count a
//     non-decreasing function of the load, which is what a planner expects.
//  3. N+1: HA tiers get one server more than the load count, and the SLO is
//     judged with that server lost (Estimate.Failover). Min raises the count
//     last. A fixed count (Servers > 0) is taken as is.
func Size(m Model) (Estimate, error) {
	p, err := prepare(m)
	if err != nil {
		return Estimate{}, err
	}
	e := p.size(p.model.Workload, true, make([]TierEstimate, len(p.tiers)))
	e.Database = p.database(e)
	return e, nil
}

// plan is a validated model with the per-tier numbers that do not depend on
// the workload's size precomputed, so that sweeps only redo the queueing.
type plan struct {
	model Model
	tiers []tierPlan
	// delayS is each class's delay station, s (Workload.DelayMs).
	delayS [numClasses]float64
	// stages is the service times' Erlang stage count, 1 for exponential
	// (Workload.ServiceSCV).
	stages int
	// open makes the open model answer always (PredictAt: k6 drives an
	// arrival rate, not a population).
	open bool
	// Scratch space for size, reused from one sweep point to the next.
	choices  []choice
	full     []perf
	failover []perf
	net      network
	paths    []path
	// warm keeps Bard-Schweitzer's last queues at the chosen counts and at
	// failover, and guess the last end-to-end p95s, so that a sweep's next
	// point starts from its neighbours' answers: a few iterations instead
	// of tens. Answers agree with a cold start to the solvers' tolerances,
	// not bit for bit.
	warm  [2][][]float64
	guess [2]quantileStart
}

// quantileStart is where a sweep's next end-to-end quantile search starts:
// its last two answers (s), 0 before there are any.
type quantileStart struct{ last, before float64 }

// next is the start for the next point's search: cold (the bound endToEnd
// derives) on the first point, else the line through the last two answers.
// Adjacent points differ by one step of the axis, over which the p95 is
// close to linear: from the last answer alone Newton's method needs a
// second inversion at most points (1.7 a quantile in BenchmarkSweep100k),
// from the line almost never (1.0). Where the p95 jumps (a tier gains a
// server) the line would overshoot, so the last answer is the start there.
func (q *quantileStart) next(cold float64) float64 {
	switch {
	case q.last == 0:
		return cold
	case q.before > 0 && math.Abs(q.last-q.before) <= 1e-3*q.last:
		return 2*q.last - q.before
	}
	return q.last
}

// keep records an answer.
func (q *quantileStart) keep(t float64) { q.last, q.before = t, q.last }

type tierPlan struct {
	spec TierSpec
	// demandMs is the mix-weighted demand per request reaching the tier.
	demandMs float64
	// used is the share of requests reaching the tier that cost it anything
	// (the mix share of the classes with a demand here). A tier that only
	// integration calls reach serves 10 % of requests, each at the full
	// integration demand, and its latency is that of those requests.
	used float64
	// serviceS is the mean service time of a request that uses the tier.
	serviceS float64
	// path has bit i set when requests of Classes()[i] use the tier.
	path classSet
	// classS is the mean service time of a request of Classes()[i] here, s.
	classS [numClasses]float64
	// bgCores is the background classes' CPU on the tier, cores, whatever
	// the rate (PredictAtWith); 0 when sizing.
	bgCores float64
}

// classSet is a set of request classes, bit i for Classes()[i].
type classSet uint8

func (s classSet) has(i int) bool { return s&(1<<i) != 0 }

func prepare(m Model) (*plan, error) {
	m = m.WithDefaults()
	if err := validate(m); err != nil {
		return nil, err
	}
	n := len(m.Tiers)
	p := &plan{model: m, tiers: make([]tierPlan, n), choices: make([]choice, n), full: make([]perf, n), failover: make([]perf, n)}
	for i, t := range m.Tiers {
		tp := tierPlan{spec: t}
		for ci, c := range Classes() {
			if d, share := t.Demand[c], m.Workload.Mix[c]; d > 0 && share > 0 {
				tp.demandMs += share * d
				tp.used += share
				tp.path |= 1 << ci
				tp.classS[ci] = d / 1000
			}
		}
		if tp.used > 0 {
			tp.serviceS = tp.demandMs / tp.used / 1000
		}
		if offPath(t.Role) {
			tp.path = 0
		}
		p.tiers[i] = tp
	}
	for ci, c := range Classes() {
		p.delayS[ci] = m.Workload.DelayMs[c] / 1000
	}
	p.stages = Stages(m.Workload.ServiceSCV)
	return p, nil
}

// Stages is the Erlang stage count the model takes for a service time of
// squared coefficient of variation scv: round(1/scv), at least 1; 1 (an
// exponential) for scv 0, which is scv not given.
func Stages(scv float64) int {
	if !(scv > 0) || scv >= 1 {
		return 1
	}
	return int(math.Max(1, math.Round(1/scv)))
}

// shape records in a the service times' shape when it is not the
// exponential, and with explain says it in a.Why: the percentiles change
// with it while every mean and utilization stays, so a reader comparing
// two plans' p95s needs to see it.
func (p *plan) shape(a *Answer, explain bool) {
	if p.stages <= 1 {
		return
	}
	a.ServiceStages, a.ServiceSCV = p.stages, p.model.Workload.ServiceSCV
	if explain {
		a.Why += fmt.Sprintf("; the end-to-end percentiles take service times Erlang-%d (workload.service_scv %g): "+
			"the same means, a shorter tail than exponential times",
			p.stages, a.ServiceSCV)
	}
}

// mixDelayS is the classes' delay stations weighted by the mix: what they
// add to the mean of a request, s.
func (p *plan) mixDelayS() float64 {
	d := 0.0
	for ci, c := range Classes() {
		d += p.model.Workload.Mix[c] * p.delayS[ci]
	}
	return d
}

// offPath says whether a role's tier carries load without being on the
// users' request path: a load generator makes the requests, so it is
// sized for the rate like any tier, but its queueing adds nothing to the
// response time the SLO judges.
func offPath(role string) bool { return role == "loadgen" }

// workloadEstimate derives the request rates from a workload.
func workloadEstimate(w Workload) WorkloadEstimate {
	concurrent := float64(w.NamedUsers) * w.Concurrency
	rps := concurrent * w.TPM / 60
	grow := math.Pow(1+w.Growth, float64(w.Years))
	return WorkloadEstimate{
		NamedUsers:        w.NamedUsers,
		ConcurrentUsers:   concurrent,
		RequestsPerSecond: rps,
		DesignRate:        rps * w.PeakFactor * grow,
		Records:           w.Records,
		DesignRecords:     int64(math.Round(float64(w.Records) * grow)),
	}
}

// size runs the three steps of Size for workload w and writes the tiers'
// answers into tiers (one per tier of the plan). explain fills the
// human-readable Detail, which sweeps skip because formatting dominates
// their cost. size is not safe for concurrent use: it reuses p's scratch.
func (p *plan) size(w Workload, explain bool, tiers []TierEstimate) Estimate {
	we := workloadEstimate(w)
	choices := p.choices
	for i := range p.tiers {
		choices[i] = p.tiers[i].loadCount(we.DesignRate)
	}
	sloMet := p.applySLO(choices, we.DesignRate)
	// Named users per request/s at the tier, for the saturation point in
	// named users: N = rate*60 / (concurrency*TPM*peak).
	usersPerRate := 60 / (w.Concurrency * w.TPM * w.PeakFactor)
	e := Estimate{Workload: we, Tiers: tiers}
	full, failover := p.full, p.failover
	for i := range p.tiers {
		tp, c := &p.tiers[i], &choices[i]
		c.finish(tp.spec)
		full[i] = c.perfAt(tp, we.DesignRate, c.servers)
		failover[i] = full[i]
		if c.failover != c.servers {
			failover[i] = c.perfAt(tp, we.DesignRate, c.failover)
		}
	}
	e.Model = p.closedModel(w, we, full, explain)
	p.shape(&e.Model, explain)
	if e.Model.Name != ModelOpen {
		p.closedPerfs(choices, false, full, &e.Model)
		if !anyOverloaded(failover) {
			p.closedPerfs(choices, true, failover, nil)
		}
	}
	rate := e.Model.Throughput
	for i := range p.tiers {
		tp, c := &p.tiers[i], &choices[i]
		e.Tiers[i] = tp.estimate(rate, usersPerRate, *c, full[i])
		if explain {
			e.Tiers[i].Detail = c.detail(tp, e.Tiers[i], p.model.SLO.P95Ms, we.DesignRate)
		}
	}
	e.EndToEnd = p.endToEnd(full, explain, &p.guess[0])
	e.Failover = p.endToEnd(failover, false, &p.guess[1])
	e.MeetsSLO = sloMet && !e.Failover.Unbounded && e.Failover.P95Ms <= p.model.SLO.P95Ms*(1+1e-9)
	if explain && !e.MeetsSLO {
		e.SLOMiss = p.sloMiss(e, failover)
	}
	return e
}

// sloMiss explains a missed SLO: an overloaded tier, a class path whose
// service times alone exceed the SLO, or the predicted p95 itself.
func (p *plan) sloMiss(e Estimate, failover []perf) string {
	slo := p.model.SLO.P95Ms
	for i, pf := range failover {
		if pf.overloaded {
			return fmt.Sprintf("%s is overloaded at %s utilization with one HA server down; add servers or cores",
				p.tiers[i].spec.Role, pct(pf.util))
		}
	}
	var floor [numClasses]float64
	for i := range p.tiers {
		for ci := range floor {
			if p.tiers[i].path.has(ci) {
				floor[ci] += p.tiers[i].minP95Ms()
			}
		}
	}
	worst := 0
	for ci, f := range floor {
		if f > floor[worst] {
			worst = ci
		}
	}
	if floor[worst] >= slo {
		return fmt.Sprintf("the service times alone on the %s path take %.0f ms at p95, above the %g ms SLO; "+
			"lower the demands (faster code, caching) or raise slo.p95_ms", Classes()[worst], floor[worst], slo)
	}
	return fmt.Sprintf("predicted p95 is %.0f ms with one server of every HA tier down, above the %g ms SLO",
		e.Failover.P95Ms, slo)
}

// perf is a tier's predicted response time at one server count.
type perf struct {
	util       float64
	meanMs     float64
	p95Ms      float64
	overloaded bool
	// waitP is the probability that a request waits for a core, and
	// waitS[i] the mean wait (over all requests, waiting or not) of a
	// request of Classes()[i], s: what the end-to-end distribution needs.
	waitP float64
	waitS [numClasses]float64
	// relax is the rate, 1/s, at which the queue the tier's requests
	// wait in forgets its state, when one queue serves every tier of a
	// path (PredictHere's shared cores): a request that met it busy at one
	// hop meets it busy at the next with the chance that it has not
	// relaxed in between (see hop.carry). 0 when each tier queues on
	// cores of its own (Size): the hops' waits are then independent.
	relax float64
}

// station returns the M/M/c queue of the requests that use the tier.
func (tp *tierPlan) station(design float64, servers, cores int) station {
	q := station{c: servers * cores, lambda: design * tp.spec.Visit * tp.used, s: tp.serviceS}
	if tp.bgCores > 0 && tp.serviceS > 0 {
		// Background work takes the tier's cores as jobs of the requests'
		// mean size: it adds to the utilization and to the waiting.
		q.lambda += tp.bgCores / tp.serviceS
	}
	return q
}

// perf predicts the tier's utilization and response time.
func (tp *tierPlan) perf(design float64, servers, cores int) perf {
	if tp.used == 0 {
		return perf{util: tp.bgCores / float64(max(servers*cores, 1))}
	}
	q := tp.station(design, servers, cores)
	pf := perf{util: q.utilization()}
	if !q.stable() {
		pf.overloaded = true
		return pf
	}
	r := q.response()
	pf.meanMs = r.mean() * 1000
	pf.p95Ms = r.quantile(q95) * 1000
	pf.waitP = r.waitP
	if r.waitP > 0 {
		for ci := range pf.waitS {
			pf.waitS[ci] = r.waitP / r.theta
		}
	}
	return pf
}

// p95 is the predicted p95 in ms, +Inf when the tier is overloaded.
func (pf perf) p95() float64 {
	if pf.overloaded {
		return math.Inf(1)
	}
	return pf.p95Ms
}

// perfAt predicts the tier at n servers of the chosen cores, reusing the
// prediction the SLO step made at the load count.
func (c *choice) perfAt(tp *tierPlan, design float64, n int) perf {
	if c.atLoadOK && n == c.load {
		return c.atLoad
	}
	return tp.perf(design, n, c.cores)
}

// minP95Ms is the p95 of the service time alone, which no server count can
// beat: ln(20) times the mean for an exponential service time.
func (tp *tierPlan) minP95Ms() float64 { return -math.Log(1-q95) * tp.serviceS * 1000 }

// estimate assembles the tier's answer.
func (tp *tierPlan) estimate(design, usersPerRate float64, c choice, pf perf) TierEstimate {
	t := TierEstimate{
		Role:            tp.spec.Role,
		Servers:         c.servers,
		Cores:           c.cores,
		ArrivalRate:     design * tp.spec.Visit,
		ServiceDemandMs: tp.demandMs,
		Utilization:     pf.util,
		PredictedMeanMs: pf.meanMs,
		PredictedP95Ms:  pf.p95Ms,
		Reason:          c.reason,
		Overloaded:      pf.overloaded,
	}
	if tp.demandMs > 0 {
		t.SaturationRate = math.Max(0, float64(c.servers*c.cores)-tp.bgCores) / (tp.demandMs / 1000)
		t.SaturationNamedUsers = int(math.Min(math.Floor(t.SaturationRate/tp.spec.Visit*usersPerRate), math.MaxInt32))
	}
	return t
}

// endToEnd predicts the latency of a request across all tiers.
//
// Each request class has its path: the tiers where it has a demand, each
// visited with the tier's visit probability, where it waits (with the
// tier's probability of waiting, for an exponential time whose mean is the
// class's predicted wait there) and is served (exponential, with the
// class's own demand as mean; Erlang of Workload.ServiceSCV's stages
// when it is below 1). The class's end-to-end time is the sum of
// these independent times, so its distribution is their convolution, a
// product of Laplace transforms, inverted numerically (see tail). All
// requests form the mixture of the classes by their mix shares; P95Ms is
// that mixture's 95th percentile.
//
// This replaces the sum of per-tier p95s, which is the latency of a request
// slow at every tier at once and so overstates the p95 of the sum (seed
// 000, calibrated: 15.5 ms against a measured 5.0 ms). Independence of the
// tiers' times is the usual product-form assumption.
//
// Mean: the mix-weighted sum of the classes' expected path times. byClass
// fills Latency.ByClass (sweeps skip it). The p95's search starts where
// start says, and start keeps its answer.
func (p *plan) endToEnd(perfs []perf, byClass bool, start *quantileStart) Latency {
	var l Latency
	paths := p.paths[:0]
	guess := 0.0 // the old bound, a start for the quantile search
	for ci, class := range Classes() {
		share := p.model.Workload.Mix[class]
		if !(share > 0) {
			continue
		}
		pa := path{share: share}
		if len(paths) < cap(paths) { // reuse the last point's hops
			pa.hops = paths[:len(paths)+1][len(paths)].hops[:0]
		}
		var mean, bound, lag float64
		for i, pf := range perfs {
			tp := &p.tiers[i]
			if !tp.path.has(ci) {
				continue
			}
			if pf.overloaded {
				l.Unbounded = true
				continue
			}
			h := hop{visit: tp.spec.Visit, mu: 1 / tp.classS[ci], stages: p.stages}
			if w := pf.waitS[ci]; w > 0 && pf.waitP > 0 {
				h.waitP, h.theta = pf.waitP, pf.waitP/w
				if pf.relax > 0 {
					// The queue's state since the request's last wait
					// for it, lag (mean) seconds ago, decays as e^{-relax lag}.
					h.carry = math.Exp(-pf.relax * lag)
					lag = 0
				}
			}
			pa.hops = append(pa.hops, h)
			mean += h.visit * (tp.classS[ci] + pf.waitS[ci])
			lag += h.visit * (tp.classS[ci] + pf.waitS[ci])
			bound += pf.p95Ms / 1000
		}
		if d := p.delayS[ci]; d > 0 {
			// The delay station: a hop that every request of the class
			// takes and no other request queues for, of the service
			// times' shape (exponential unless ServiceSCV says).
			pa.hops = append(pa.hops, hop{visit: 1, mu: 1 / d, stages: p.stages})
			mean += d
			bound += 3 * d // an exponential's p95 is 3.0 means
		}
		l.MeanMs += share * mean * 1000
		guess = math.Max(guess, bound)
		paths = append(paths, pa)
		if byClass {
			if l.ByClass == nil {
				l.ByClass = make(map[Class]ClassLatency, numClasses)
			}
			l.ByClass[class] = ClassLatency{MeanMs: mean * 1000, P95Ms: 1000 * pathQuantile(paths[len(paths)-1:], q95, bound)}
		}
	}
	p.paths = paths
	t := pathQuantile(paths, q95, start.next(guess))
	start.keep(t)
	l.P95Ms = 1000 * t
	return l
}
