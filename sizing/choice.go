package sizing

import (
	"fmt"
	"math"
	"strings"
)

// choice is the server count the model settles on for one tier.
type choice struct {
	fixed bool
	// load is the count that carries the design load: the count the SLO is
	// judged at. HA tiers run one more.
	load  int
	cores int
	// loadReason is why load is what it is: utilization, slo, scale-up, max
	// or fixed; reason adds ha and min on top.
	loadReason string
	reason     string
	servers    int
	failover   int // servers left when an HA tier loses one
	utilLoad   int // the count the target utilization alone asked for
	budgetMs   float64
	sloMissed  bool
	// atLoad is the prediction at load servers of cores cores, kept when
	// the SLO step computed it so that size does not compute it again.
	atLoad    perf
	atLoadOK  bool
	minRaised bool
}

// need is the fewest servers of cores cores that keep offered erlangs
// (busy cores) at or below the target utilization; at least 1, and at most
// maxServers+1, which callers read as "more than the model builds".
func need(offered float64, cores int, target float64) int {
	n := math.Ceil(offered / (float64(cores) * target))
	switch {
	case n < 1 || math.IsNaN(n):
		return 1
	case n > maxServers:
		return maxServers + 1
	}
	return int(n)
}

// loadCap is the most servers that may carry the load, 0 for no cap. An HA
// tier keeps one server of its cap for the spare.
func loadCap(s TierSpec) int {
	if s.MaxServers == 0 {
		return 0
	}
	if s.HA {
		return max(s.MaxServers-1, 1)
	}
	return s.MaxServers
}

// loadCount is step 1 of Size: the count the target utilization asks for.
// A capped tier stays at its cap and doubles its cores instead, so a larger
// load never yields fewer servers.
func (tp *tierPlan) loadCount(design float64) choice {
	s := tp.spec
	c := choice{cores: s.Cores}
	if s.Servers > 0 {
		c.fixed, c.servers, c.load, c.loadReason = true, s.Servers, s.Servers, ReasonFixed
		if s.HA && s.Servers > 1 {
			c.load = s.Servers - 1
		}
		return c
	}
	offered := design * s.Visit * tp.demandMs / 1000
	n := need(offered, c.cores, s.TargetUtilization)
	c.loadReason = ReasonUtilization
	if tp.demandMs == 0 {
		// Batch and control tiers (etl, scheduler) exist for their own
		// work, not the request rate: one server unless Min says more.
		c.loadReason = ReasonMin
	}
	if n > maxServers && s.MaxServers == 0 {
		// Past any real deployment; stop here rather than queue-model
		// millions of cores.
		n, c.loadReason = maxServers, ReasonMax
	}
	if limit := loadCap(s); limit > 0 && n > limit {
		n, c.loadReason = limit, ReasonScaleUp
		for need(offered, c.cores, s.TargetUtilization) > limit && c.cores < MaxCores {
			c.cores = min(2*c.cores, MaxCores)
		}
		if need(offered, c.cores, s.TargetUtilization) > limit {
			c.loadReason = ReasonMax
		}
	}
	c.load, c.utilLoad = n, n
	return c
}

// applySLO is step 2 of Size: it apportions the p95 SLO to the tiers and
// raises the load counts that miss their share. Every class's path (see
// endToEnd) must fit the SLO: the tiers with a fixed or capped count spend
// their predicted p95 on the paths they are on, and the others get their
// unavoidable p95 times one common scale, the largest that still fits the
// tightest path. It reports whether every tier fits its share; when even the
// service times alone exceed the SLO on some path no count is raised.
func (p *plan) applySLO(cs []choice, design float64) bool {
	var spent, minSum [numClasses]float64
	for i := range p.tiers {
		tp, c := &p.tiers[i], &cs[i]
		if tp.used == 0 || tp.path == 0 {
			continue
		}
		var add float64
		sized := !c.fixed && c.loadReason != ReasonMax
		if sized {
			add = tp.minP95Ms()
		} else {
			pf := tp.perf(design, c.load, c.cores)
			c.atLoad, c.atLoadOK = pf, true
			add = pf.p95()
		}
		for ci := range spent {
			if !tp.path.has(ci) {
				continue
			}
			if sized {
				minSum[ci] += add
			} else {
				spent[ci] += add
			}
		}
	}
	slo := p.model.SLO.P95Ms
	scale := math.Inf(1)
	for ci := range spent {
		budget := slo - spent[ci]
		switch {
		case minSum[ci] == 0 && budget >= 0:
		case !(budget > minSum[ci]):
			return false
		default:
			scale = math.Min(scale, budget/minSum[ci])
		}
	}
	if math.IsInf(scale, 1) {
		return true // no tier left to size for latency
	}
	ok := true
	for i := range p.tiers {
		tp, c := &p.tiers[i], &cs[i]
		if tp.used == 0 || tp.path == 0 || c.fixed || c.loadReason == ReasonMax {
			continue
		}
		c.budgetMs = tp.minP95Ms() * scale
		if !tp.fitBudget(design, c) {
			c.sloMissed, ok = true, false
		}
	}
	return ok
}

// fitBudget raises c.load (and, at the cap, c.cores) until the tier's p95 is
// within c.budgetMs. The p95 falls as servers are added, so the fewest
// servers that fit are found by doubling, then bisection.
func (tp *tierPlan) fitBudget(design float64, c *choice) bool {
	// Every count that fits is smaller than the last one that did, so the
	// last fit is the answer and its prediction is kept.
	var last perf
	fits := func(n, cores int) bool {
		pf := tp.perf(design, n, cores)
		if pf.p95() <= c.budgetMs {
			last = pf
			return true
		}
		return false
	}
	if fits(c.load, c.cores) {
		c.atLoad, c.atLoadOK = last, true
		return true
	}
	ok := tp.raiseToBudget(design, c, fits)
	if ok {
		c.atLoad, c.atLoadOK = last, true
	}
	return ok
}

// raiseToBudget is the search of fitBudget once the load count misses.
func (tp *tierPlan) raiseToBudget(design float64, c *choice, fits func(n, cores int) bool) bool {
	limit := loadCap(tp.spec)
	if limit > 0 && c.load >= limit {
		for c.cores < MaxCores {
			c.cores = min(2*c.cores, MaxCores)
			if fits(c.load, c.cores) {
				c.loadReason = ReasonSLO
				return true
			}
		}
		return false
	}
	lo, hi := c.load, c.load
	for !fits(hi, c.cores) {
		lo = hi
		hi *= 2
		if limit > 0 && hi >= limit {
			hi = limit
			if !fits(hi, c.cores) {
				c.load = limit
				return tp.raiseToBudget(design, c, fits)
			}
			break
		}
		if hi > maxServers {
			return false
		}
	}
	for hi-lo > 1 { // invariant: lo does not fit, hi fits
		mid := lo + (hi-lo)/2
		if fits(mid, c.cores) {
			hi = mid
		} else {
			lo = mid
		}
	}
	c.load, c.loadReason = hi, ReasonSLO
	return true
}

// finish is step 3 of Size: N+1 for HA tiers, then Min.
func (c *choice) finish(s TierSpec) {
	c.reason = c.loadReason
	if c.fixed {
		c.failover = c.load
		return
	}
	c.servers = c.load
	if s.HA {
		c.servers, c.reason = c.load+1, ReasonHA
	}
	if s.Min > c.servers {
		c.servers, c.reason, c.minRaised = s.Min, ReasonMin, true
	}
	if c.loadReason == ReasonMax {
		c.reason = ReasonMax // the one fact that matters: the tier cannot keep up
	}
	c.failover = c.servers
	if s.HA {
		c.failover = c.servers - 1
	}
}

// detail says why the tier has its count, with the numbers.
// design is the design rate the count was chosen for (t.ArrivalRate is the
// answering model's throughput).
func (c *choice) detail(tp *tierPlan, t TierEstimate, sloMs, design float64) string {
	s := tp.spec
	var b strings.Builder
	target := pct(s.TargetUtilization)
	switch {
	case c.fixed:
		fmt.Fprintf(&b, "fixed at %d by the plan", c.servers)
	case tp.demandMs == 0:
		fmt.Fprintf(&b, "no per-request demand: %s", servers(c.load))
	case c.loadReason == ReasonUtilization:
		fmt.Fprintf(&b, "the load (%.2f busy cores) needs %s of %d cores to stay at or below the %s target",
			design*s.Visit*tp.demandMs/1000, servers(c.load), c.cores, target)
	case c.loadReason == ReasonSLO:
		fmt.Fprintf(&b, "%s of %d cores (the %s target needs %d) keep the tier's p95 within its %.1f ms share of the %g ms SLO",
			servers(c.load), c.cores, target, c.utilLoad, c.budgetMs, sloMs)
	case c.loadReason == ReasonScaleUp:
		fmt.Fprintf(&b, "capped at %s, so scaled up to %d cores to stay at or below the %s target", servers(c.load), c.cores, target)
	case c.loadReason == ReasonMax:
		fmt.Fprintf(&b, "capped at %s of %d cores: cannot reach the %s target", servers(c.load), c.cores, target)
	}
	if c.sloMissed {
		fmt.Fprintf(&b, "; misses its %.1f ms p95 share even at the largest count", c.budgetMs)
	}
	if s.HA && !c.fixed {
		b.WriteString("; +1 for N+1")
	}
	if c.minRaised {
		fmt.Fprintf(&b, "; raised to the tier's min %d", s.Min)
	}
	if t.Overloaded {
		fmt.Fprintf(&b, "; overloaded at %s utilization", pct(t.Utilization))
	}
	return b.String()
}

func pct(share float64) string { return fmt.Sprintf("%.0f%%", share*100) }

func servers(n int) string {
	if n == 1 {
		return "1 server"
	}
	return fmt.Sprintf("%d servers", n)
}
