package sizing

import (
	"fmt"
	"math"
)

// Here is the hardware a stack is deployed on when its hosts do not have
// the plan's cores of their own: on the local target every host is a set
// of processes on one machine, and the load generator runs there too.
type Here struct {
	// Cores every host and the generator share (runtime.NumCPU on the
	// local target).
	Cores int `json:"cores"`
	// GeneratorMs is the load generator's CPU per request, ms: measured by
	// the run when there is one (k6's CPU over its rate), else
	// DefaultGeneratorMs.
	GeneratorMs float64 `json:"generator_ms"`
	// IdleCPU is, by role, the cores a tier's hosts use with no load at all
	// (health checks, metrics scrapes, a replica's WAL receiver, runtimes'
	// timers), measured by verify before k6 starts. It does not grow with
	// the rate, so calibrate leaves it out of demand_ms, and here it is
	// added back: to the tier's utilization and, as background work, to
	// the shared cores. Nil when not measured.
	IdleCPU map[string]float64 `json:"idle_cpu,omitempty"`
	// Background is the work the stack does at its own pace beside the
	// generator's requests (seed 000's ETL migration jobs), measured by
	// verify while it ran with no requests. Like IdleCPU it does not grow
	// with the request rate; unlike it, it is a class of its own, with its
	// rate, so a prediction says what part of a tier's CPU is its.
	Background []Background `json:"background,omitempty"`
	// OtherCPU is the cores the machine's other processes use (neither
	// the stack's hosts nor the generator: other people's builds and
	// tests on a shared machine), measured by verify from the machine's
	// busy time. They are not the stack's to have: the requests get the
	// cores left (Free). 0 when not measured or nothing else runs.
	OtherCPU float64 `json:"other_cpu,omitempty"`
}

// Free is the cores the stack and the generator have of h.Cores once the
// machine's other processes have taken theirs; 0 when they take them all.
func (h Here) Free() float64 {
	return math.Max(0, float64(h.Cores)-h.OtherCPU)
}

// Background is one background class: jobs at Rate a second that used CPU
// cores by role (above the tiers' idle CPU) while they ran.
type Background struct {
	Class string             `json:"class"`
	Rate  float64            `json:"rate"`
	CPU   map[string]float64 `json:"cpu"`
}

// DefaultGeneratorMs is k6's CPU per request when no run measured it: the
// embedded k6 held 150 req/s at 9 % of one core here (ARCHITECTURE.md),
// 0.6 ms a request.
const DefaultGeneratorMs = 0.6

// PredictHere predicts est's stack at rate requests/s where it actually
// runs: every tier's work and the generator's on h.Cores shared cores.
// Each tier keeps the plan's servers and cores for its utilization (CPU
// over the plan's cores, as verify measures it), but its requests queue for
// the shared cores: one M/M/c pool with c = h.Cores, fed by every tier
// visit and by the generator, whose offered load is rate times the whole
// path's demand. A visit waits with that pool's Erlang C probability an
// exponential time of rate c*mu - lambda (mu the pool's mean job rate), and
// is then served for its own demand; the end-to-end distribution is
// convolved as in Size (see endToEnd). The tiers' idle CPU (h.IdleCPU)
// feeds the same pool as jobs of the pool's mean size whatever the rate,
// and leaves the requests h.Cores minus that. The machine's other
// processes (h.OtherCPU) feed the pool the same way: on a shared machine
// they take cores the stack cannot have, so the requests get h.Free()
// minus the idle and background work. Every tier saturates with the
// machine, at the cores left over the whole demand per request. For the
// waiting, though, the other processes are lower-priority work: Linux
// lets a waking request thread take a core from a CPU-bound process
// within a slice, so a request queues only behind the stack's own work,
// plus a scheduling delay when the others hold every core (preempting).
//
// The open model is the right one here: k6 drives an arrival rate. Errors
// are EINVALID: no design rate in est, a rate not above 0, or no cores.
func PredictHere(m Model, est Estimate, rate float64, h Here) (Estimate, error) {
	return predictHere(m, est, rate, h, true)
}

// predictHere is PredictHere, its hops' waits correlated as it says when
// correlated is set, else independent as in Size (what the tests hold the
// correlated form to).
func predictHere(m Model, est Estimate, rate float64, h Here, correlated bool) (Estimate, error) {
	const hint = "crmplan verify --plan PLAN.yaml"
	if !(est.Workload.DesignRate > 0) {
		return Estimate{}, invalid("estimate", hint, "the estimate has no design rate to scale from")
	}
	if !(rate > 0) || !finite(rate) {
		return Estimate{}, invalid("rate", hint, "must be above 0, got %v", rate)
	}
	if h.Cores < 1 || !(h.GeneratorMs >= 0) || !finite(h.GeneratorMs) {
		return Estimate{}, invalid("here", hint, "needs at least one core and a generator demand of 0 or more, got %+v", h)
	}
	for role, cpu := range h.IdleCPU {
		if !(cpu >= 0) || !finite(cpu) {
			return Estimate{}, invalid("here", hint, "idle CPU of %s must be 0 or more cores, got %v", role, cpu)
		}
	}
	if !(h.OtherCPU >= 0) || !finite(h.OtherCPU) {
		return Estimate{}, invalid("here", hint, "the other processes' CPU must be 0 or more cores, got %v", h.OtherCPU)
	}
	if err := validBackground(h.Background, hint); err != nil {
		return Estimate{}, err
	}
	p, err := prepare(fixedAt(m, est))
	if err != nil {
		return Estimate{}, err
	}
	var demandS, jobs float64 // per request, over the whole path
	for i := range p.tiers {
		tp := &p.tiers[i]
		demandS += tp.spec.Visit * tp.demandMs / 1000
		jobs += tp.spec.Visit * tp.used
	}
	genS := h.GeneratorMs / 1000
	for i := range p.tiers {
		if p.tiers[i].used > 0 && p.tiers[i].path == 0 {
			// The plan has its load generators as a tier (loadgen hosts on
			// this machine): their demand above is the generator's.
			genS = 0
		}
	}
	if genS > 0 {
		jobs++
	}
	demandS += genS
	idle := 0.0 // cores, whatever the rate: idle and background work
	bgWhy := ""
	for i := range p.tiers {
		idle += h.IdleCPU[p.tiers[i].spec.Role]
	}
	for _, b := range h.Background {
		cores := 0.0
		for i := range p.tiers {
			cores += b.CPU[p.tiers[i].spec.Role]
		}
		idle += cores
		bgWhy += fmt.Sprintf("; background class %s, %.3g jobs/s, takes %.3f cores of them", b.Class, b.Rate, cores)
	}
	// Other processes take what they take of the machine: no tier's
	// utilization, but cores the requests queue behind.
	other := math.Min(h.OtherCPU, float64(h.Cores))
	idle += other
	c := h.Cores
	pool := station{c: c, lambda: rate * jobs}
	if jobs > 0 {
		pool.s = demandS / jobs
		pool.lambda += idle / pool.s
	}
	busy := (rate*demandS + idle) / float64(c)
	sat := 0.0
	if demandS > 0 {
		sat = math.Max(0, float64(c)-idle) / demandS
	}
	we := workloadEstimate(p.model.Workload)
	we.DesignRate = rate
	e := Estimate{Workload: we, Tiers: make([]TierEstimate, len(p.tiers)), Model: Answer{Name: ModelHere, Throughput: rate}}
	e.Model.Why = fmt.Sprintf("on this target every host and the load generator share %d cores, %.2g of them free of other processes: "+
		"one M/M/%d pool serves the whole path's %.2f ms a request (the generator's %.2f ms included), the tiers' idle and background %.2f cores "+
		"and the other processes' %.2f cores, %s busy at %.1f req/s; it saturates at %.0f req/s%s",
		c, h.Free(), c, demandS*1000, genS*1000, idle-other, other, pct(busy), rate, sat, bgWhy)
	perfs := make([]perf, len(p.tiers))
	var r response
	relax := 0.0
	if pool.stable() && jobs > 0 {
		r = pool.response()
		// The queue a request meets again at each hop: the stack's own
		// work (the other processes it preempts do not hold it up for
		// long; see preempting).
		if correlated {
			relax = relaxRate(ownQueue(pool, other))
		}
		if other > 0 {
			r = preempting(pool, other, h.Cores)
			e.Model.Why += fmt.Sprintf("; a request preempts the other processes: it queues only behind the stack's own work, "+
				"plus a scheduling delay of %.2f ms when it finds every core busy because of them", schedDelayS(h.Cores)*1000)
		}
	}
	if relax > 0 && r.waitP > 0 {
		e.Model.Why += fmt.Sprintf("; a request's waits at its hops are for the same cores, so correlated: it meets the queue it found "+
			"again at its next hop unless the queue relaxed in between, at %.0f/s (the pool's decay rate): the same %s chance of waiting at each hop, a longer tail", relax, pct(r.waitP))
	}
	if d := p.mixDelayS(); d > 0 {
		e.Model.Why += fmt.Sprintf("; the classes' fixed delays (workload.delay_ms) add %.2f ms a request, queueing for nothing", d*1000)
	}
	p.shape(&e.Model, true)
	usersPerRate := 60 / (p.model.Workload.Concurrency * p.model.Workload.TPM)
	for i := range p.tiers {
		tp := &p.tiers[i]
		spec := tp.spec
		bg := h.IdleCPU[spec.Role]
		for _, b := range h.Background {
			bg += b.CPU[spec.Role]
		}
		idleUtil := bg / float64(spec.Servers*spec.Cores)
		pf := perf{util: rate*spec.Visit*tp.demandMs/1000/float64(spec.Servers*spec.Cores) + idleUtil}
		switch {
		case tp.used == 0:
			pf.util = idleUtil
		case !pool.stable():
			pf.overloaded = true
		default:
			hop := response{mu: 1 / tp.serviceS, theta: r.theta, waitP: r.waitP}
			pf.meanMs = hop.mean() * 1000
			pf.p95Ms = hop.quantile(q95) * 1000
			pf.waitP = r.waitP
			pf.relax = relax
			for ci := range pf.waitS {
				pf.waitS[ci] = r.waitP / r.theta
			}
		}
		perfs[i] = pf
		ch := choice{servers: spec.Servers, cores: spec.Cores, reason: ReasonFixed}
		t := tp.estimate(rate, usersPerRate, ch, pf)
		if tp.demandMs > 0 {
			t.SaturationRate = sat
			t.SaturationNamedUsers = int(math.Min(math.Floor(sat*usersPerRate), math.MaxInt32))
		}
		t.Detail = fmt.Sprintf("%s of the plan's %d x %d cores; queues for this machine's %d cores", pct(pf.util), spec.Servers, spec.Cores, c)
		e.Tiers[i] = t
	}
	e.EndToEnd = p.endToEnd(perfs, true, &quantileStart{})
	e.Failover = e.EndToEnd
	e.MeetsSLO = !e.EndToEnd.Unbounded && e.EndToEnd.P95Ms <= p.model.SLO.P95Ms
	return e, nil
}

// fixedAt is m with every tier's servers and cores fixed at est's.
func fixedAt(m Model, est Estimate) Model {
	m = m.WithDefaults()
	byRole := map[string]TierEstimate{}
	for _, t := range est.Tiers {
		byRole[t.Role] = t
	}
	m.Tiers = append([]TierSpec(nil), m.Tiers...)
	for i, t := range m.Tiers {
		if te, ok := byRole[t.Role]; ok {
			m.Tiers[i].Servers, m.Tiers[i].Cores = te.Servers, te.Cores
		}
	}
	return m
}

// validBackground checks background classes as measured: a name, a rate
// and CPU of 0 or more.
func validBackground(bg []Background, hint string) error {
	for _, b := range bg {
		if b.Class == "" || !(b.Rate >= 0) || !finite(b.Rate) {
			return invalid("background", hint, "a background class needs a name and a rate of 0 or more jobs/s, got %q at %v", b.Class, b.Rate)
		}
		for role, cpu := range b.CPU {
			if !(cpu >= 0) || !finite(cpu) {
				return invalid("background", hint, "background class %s: CPU of %s must be 0 or more cores, got %v", b.Class, role, cpu)
			}
		}
	}
	return nil
}

// preempting is the waiting of a request on pool when other of its cores
// (in cores) are the machine's other processes, which Linux's scheduler
// lets a waking request thread preempt: a request queues behind the
// requests and the stack's own idle and background work only (pool less
// the other processes' jobs, an M/M/c of its own, the high class of a
// preemptive-priority M/M/c), and when it arrives to find every core busy
// while that smaller pool would have left one free, which happens with
// the whole pool's Erlang C less the smaller one's, it waits for a core
// to be taken from another process, or for a job to end, whichever comes
// first (firstCoreS). The two are folded into the single exponential
// wait response has, at the own queue's rate, with its chance of waiting
// raised by as much as keeps the mean exact; the tail is an
// approximation (the scheduler's delay is shorter-tailed than that).
//
// The throughput is not changed by any of this: the other processes'
// cores are still not the stack's, and PredictHere's saturation stays at
// the cores they leave. Nor is the wait when other is 0: it is then the
// whole pool's.
func preempting(pool station, other float64, cores int) response {
	whole := pool.response()
	if !(other > 0) {
		return whole
	}
	mine := ownQueue(pool, other).response()
	// Erlang C grows with the load, so the difference is not negative;
	// the max only keeps rounding out.
	blocked := math.Max(0, whole.waitP-mine.waitP)
	delay := blocked * firstCoreS(whole.theta, schedDelayS(cores))
	if !(mine.theta > 0) || !(delay > 0) {
		return mine
	}
	// The delay as more waiting at the own queue's rate: a request the
	// scheduler holds up is counted as one more that found the queue
	// full, delay*theta of them, which keeps the mean exact and makes the
	// wait only longer as the other processes take more.
	waitP := mine.waitP + delay*mine.theta
	if waitP <= 1 {
		return response{mu: mine.mu, theta: mine.theta, waitP: waitP}
	}
	// Every request waits: then at the rate that keeps the mean.
	return response{mu: mine.mu, theta: 1 / (mine.waitP/mine.theta + delay), waitP: 1}
}

// schedDelayS is the mean time, in seconds, a waking request thread waits
// for a core that a CPU-bound process holds, on Linux's EEVDF scheduler
// (6.6 and later; this machine runs 6.18): the running task keeps its
// core to the end of its slice (RUN_TO_PARITY) and the woken one then
// runs first, having slept with a lag the running one has used up. The
// slice is sched_base_slice, 0.75 ms scaled, as the kernel does by
// default (SCHED_TUNABLESCALING_LOG), by 1 + log2 of the CPUs up to 8;
// the request arrives at a uniform point of it, so it waits half of it:
// 0.75 ms on 2 cores, 1.5 ms on 8 or more. CFS, before 6.6, preempted a
// sleeper at once, so on it this overstates the delay.
func schedDelayS(cores int) float64 {
	n := min(max(cores, 1), 8)
	factor := 1 + math.Floor(math.Log2(float64(n)))
	return 0.75e-3 * factor / 2
}

// firstCoreS is the mean time, in seconds, a request that finds every core
// busy because of other processes waits for one: the earlier of a job
// ending, exponential at the whole pool's rate theta (the pool's spare
// capacity, as in M/M/c), and the end of the running process's slice,
// uniform over 0 to 2*slice for a mean of slice: E[min(X, U)] =
// (1/theta) (1 - (1 - e^(-2 slice theta)) / (2 slice theta)). It is below
// both means, so a request never waits longer for a core it preempts than
// it would have as an equal of the other processes' work.
func firstCoreS(theta, slice float64) float64 {
	x := 2 * slice * theta
	if !(x > 1e-9) {
		return slice // theta near 0: no job ends before the slice
	}
	return (1 - -math.Expm1(-x)/x) / theta
}

// relaxRate is the rate, 1/s, at which an M/M/c queue's length forgets
// its state: the decay parameter of the birth-death process, which for
// M/M/1 is (sqrt(mu) - sqrt(lambda))^2 (Morse, 1955: the relaxation time
// of a queue), taken for M/M/c as (sqrt(c mu) - sqrt(lambda))^2, the
// M/M/1 of rate c mu that the queue is while every server is busy. It is
// capped at mu, the rate at which an unqueued job leaves (M/M/infinity's
// decay): at a light load the queue forgets as fast as its jobs end. An
// approximation between those two limits, not M/M/c's exact decay
// parameter. 0 for an unstable queue.
func relaxRate(q station) float64 {
	if !(q.s > 0) || !q.stable() {
		return 0
	}
	mu := 1 / q.s
	d := math.Sqrt(float64(q.c)*mu) - math.Sqrt(q.lambda)
	return math.Min(mu, d*d)
}

// ownQueue is pool less the other processes' jobs (other cores of them):
// the stack's own work, which a request queues behind when it preempts
// the others (preempting) and meets again at its next hop (relaxRate).
func ownQueue(pool station, other float64) station {
	pool.lambda = math.Max(0, pool.lambda-other/pool.s)
	return pool
}
