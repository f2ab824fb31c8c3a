package reports

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/crmplan/crmplan/topology"
)

// bottleneck is the tier that saturates first: the one with the highest
// utilization at the design rate.
func bottleneck(tiers []Tier) (Tier, bool) {
	var best Tier
	found := false
	for _, t := range tiers {
		if t.Utilization > 0 && (!found || t.Utilization > best.Utilization) {
			best, found = t, true
		}
	}
	return best, found
}

func summary(in Inputs, r Report) Summary {
	s := Summary{Currency: r.Cost.Currency, MonthlyCost: r.Cost.Total, TargetRate: r.Workload.DesignRate}
	b, ok := bottleneck(r.Tiers.Tiers)
	if ok {
		s.Bottleneck = b.Role
		s.HeadroomPct = math.Round((1/b.Utilization - 1) * 100)
	}
	if in.Result != nil {
		pass := in.Result.SLO.Passed
		s.MeasuredPass = &pass
	}
	s.Verdict = verdict(in, s, ok)
	s.Paragraph = paragraph(in, r, s, b)
	s.Headlines = headlines(r, s, b, ok)
	return s
}

func verdict(in Inputs, s Summary, sized bool) string {
	switch {
	case in.Estimate == nil:
		return VerdictUnknown
	case !sized:
		return VerdictAtRisk
	case !in.Estimate.MeetsSLO || s.HeadroomPct <= 0:
		return VerdictDoesNotCarry
	case s.MeasuredPass != nil && !*s.MeasuredPass:
		return VerdictDoesNotCarry
	case s.HeadroomPct < lowHeadroomPct:
		return VerdictAtRisk
	case in.Result != nil && in.Result.AchievedRate < 0.95*in.Result.TargetRate:
		return VerdictAtRisk
	}
	return VerdictCarries
}

func headlines(r Report, s Summary, b Tier, sized bool) []Headline {
	target := Headline{Label: "Design load", Value: "n/a", Note: "no sizing estimate"}
	headroom := Headline{Label: "Headroom", Value: "n/a", Note: "no sizing estimate"}
	if r.Workload.Missing == "" {
		target.Value = fmtNum(r.Workload.DesignRate, 0) + " req/s"
		target.Note = fmtInt(int64(r.Workload.NamedUsers)) + " named users"
	}
	if sized {
		headroom.Value = fmt.Sprintf("%+.0f%%", s.HeadroomPct)
		headroom.Note = fmt.Sprintf("%s saturates at %s named users", b.Role, fmtInt(int64(b.SaturationNamedUsers)))
	}
	cost := Headline{Label: "Monthly cost", Value: fmtMoney(r.Cost.Total, r.Cost.Currency),
		Note: fmt.Sprintf("%d servers, prices of %s", totalServers(r.Tiers.Tiers), r.Cost.AsOf)}
	if r.Cost.Missing != "" {
		cost.Value, cost.Note = "n/a", "no sizing estimate"
	}
	return []Headline{target, headroom, cost}
}

func totalServers(tiers []Tier) int {
	n := 0
	for _, t := range tiers {
		n += t.Servers
	}
	return n
}

// paragraph is the executive summary in words, written for someone who
// reads nothing else.
func paragraph(in Inputs, r Report, s Summary, b Tier) string {
	if in.Estimate == nil {
		return fmt.Sprintf("Plan %s has no sizing estimate yet, so this report cannot say whether the design carries its load. Run crmplan size --plan PLAN.yaml.", r.Plan)
	}
	var p strings.Builder
	verb := map[string]string{VerdictCarries: "carries", VerdictAtRisk: "carries, with little margin,",
		VerdictDoesNotCarry: "does not carry"}[s.Verdict]
	fmt.Fprintf(&p, "The %s design %s its target load of %s requests per second (%s named users, %s concurrently logged in, %s requests per active user per minute) on %d servers.",
		r.Plan, verb, fmtNum(r.Workload.DesignRate, 0), fmtInt(int64(r.Workload.NamedUsers)),
		fmtPct(in.Plan.Workload.Concurrency), fmtShort(in.Plan.Workload.TPM), totalServers(r.Tiers.Tiers))
	if s.Bottleneck != "" {
		fmt.Fprintf(&p, " The busiest tier, %s, runs at %s of its capacity at that rate, which leaves %s headroom: it saturates at about %s named users.",
			b.Role, fmtPct(b.Utilization), fmtPct(s.HeadroomPct/100), fmtInt(int64(b.SaturationNamedUsers)))
	}
	switch {
	case in.Estimate.SLOMiss != "":
		fmt.Fprintf(&p, " %s", in.Estimate.SLOMiss)
	case !in.Estimate.MeetsSLO:
		fmt.Fprintf(&p, " The model predicts a p95 of %s, above the %s objective.", fmtMs(in.Estimate.EndToEnd.P95Ms), fmtMs(r.SLO.P95Ms))
	}
	if res := in.Result; res != nil {
		outcome := "met"
		if !res.SLO.Passed {
			outcome = "missed"
		}
		fmt.Fprintf(&p, " The latest load test drove %s of %s requests per second with a p95 of %s and %s errors, and %s the objective.",
			fmtNum(res.AchievedRate, 1), fmtNum(res.TargetRate, 0), fmtMs(res.Latency.P95Ms), fmtPct(res.ErrorRate), outcome)
	} else {
		p.WriteString(" No load test has been run yet, so these figures are the model's alone (run crmplan verify).")
	}
	if r.Cost.Missing == "" {
		fmt.Fprintf(&p, " It costs about %s a month at the prices of %s.", fmtMoney(r.Cost.Total, r.Cost.Currency), r.Cost.AsOf)
	}
	return p.String()
}

func assumptions(in Inputs, r Report) []string {
	w := in.Plan.Workload
	out := []string{
		fmt.Sprintf("%s of the %s named users are logged in at once, each causing %s server requests a minute.",
			fmtPct(w.Concurrency), fmtInt(int64(w.NamedUsers)), fmtShort(w.TPM)),
		"Each tier is modelled as an M/M/c queue: requests arrive at random and servers share the load evenly behind the load balancer.",
		"Service demands per request class are crmplan's defaults unless the plan sets demand_ms; a load test calibrates them.",
		"Utilization targets leave room for bursts: a tier is sized to stay below its target utilization (60% unless the plan says otherwise).",
	}
	if w.PeakFactor > 1 {
		out = append(out, fmt.Sprintf("The peak hour carries %s times the average rate.", fmtNum(w.PeakFactor, 1)))
	}
	if w.Growth > 0 {
		out = append(out, fmt.Sprintf("Named users and records grow by %s a year for %d years.", fmtPct(w.Growth), w.Years))
	}
	if r.Cost.Missing == "" {
		out = append(out, fmt.Sprintf("Costs use the %s, prices as of %s; storage, traffic and licences are not included.", r.Cost.Source, r.Cost.AsOf))
	}
	return out
}

func risks(in Inputs, r Report) []Risk {
	var out []Risk
	if r.Database.Replication == string(topology.Async) {
		out = append(out, Risk{"medium", "Asynchronous replication can lose the last transactions committed on the primary when it fails over to the replica.",
			"Accept the loss window (usually under a second), or set replication: sync on the db-replica tier at the cost of write latency."})
	}
	if r.Database.Missing == "" && r.Database.Replicas == 0 {
		out = append(out, Risk{"high", "The database has no replica: losing the primary stops the CRM until it is restored from backup.",
			"Add a db-replica tier."})
	}
	for _, t := range r.Tiers.Tiers {
		if t.Overloaded {
			out = append(out, Risk{"high", fmt.Sprintf("Tier %s is overloaded at the design rate (%s utilization): requests queue without bound.", t.Role, fmtPct(t.Utilization)),
				fmt.Sprintf("Let the model choose the %s tier's server count, or give it more cores.", t.Role)})
		}
	}
	for _, t := range r.Tiers.Tiers {
		// A lone replica is the primary's spare, and a lone primary is
		// covered by the replica risk above: neither is flagged here.
		lone := t.Servers == 1 && t.Role != string(topology.RoleDBPrimary) && t.Role != string(topology.RoleDBReplica)
		if lone && t.Utilization > 0 {
			out = append(out, Risk{"medium", fmt.Sprintf("Tier %s has a single server: it is a single point of failure.", t.Role),
				fmt.Sprintf("Set ha: true on the %s tier for N+1.", t.Role)})
		}
	}
	if s, b := r.Summary, bottleneckTier(r); s.Bottleneck != "" && s.HeadroomPct < lowHeadroomPct && !b.Overloaded {
		out = append(out, Risk{"high", fmt.Sprintf("Only %s headroom on tier %s.", fmtPct(s.HeadroomPct/100), s.Bottleneck),
			fmt.Sprintf("Add a server to %s or lower its target_utilization.", s.Bottleneck)})
	}
	if d := r.Database; d.Missing == "" && d.MemoryBytes > 0 && d.WorkingSetBytes > d.MemoryBytes {
		out = append(out, Risk{"medium", "The database's daily working set is larger than its memory, so reads will go to disk.",
			"Give the database servers more memory (database.memory_bytes)."})
	}
	out = append(out, measuredRisks(in, r)...)
	out = append(out, networkRisks(r.Network)...)
	if r.Cost.Source == defaultPriceSource {
		out = append(out, Risk{"low", "The cost uses the shipped default price table, not your contract prices.",
			"Add a prices: section (currency, as_of, monthly per instance type) to the plan."})
	}
	rank := map[string]int{"high": 0, "medium": 1, "low": 2}
	slices.SortStableFunc(out, func(a, b Risk) int { return rank[a.Level] - rank[b.Level] })
	return out
}

func bottleneckTier(r Report) Tier {
	for _, t := range r.Tiers.Tiers {
		if t.Role == r.Summary.Bottleneck {
			return t
		}
	}
	return Tier{}
}

func measuredRisks(in Inputs, r Report) []Risk {
	res := in.Result
	if res == nil {
		return []Risk{{"medium", "The design has not been load-tested: every figure here is the model's prediction.", "Run crmplan verify --plan PLAN.yaml."}}
	}
	var out []Risk
	if !res.SLO.Passed {
		out = append(out, Risk{"high", "The latest load test missed its objective: " + strings.Join(res.SLO.Violations, "; ") + ".",
			"Read the per-tier utilization below; add servers to the busiest tier and run crmplan verify again."})
	}
	if res.Dropped > 0 {
		out = append(out, Risk{"medium", fmt.Sprintf("The load generator dropped %s iterations: the test did not hold the target rate.", fmtInt(res.Dropped)),
			"Run verify from a machine with more free CPU."})
	}
	if p, m := r.Measured.PredictedP95Ms, r.Measured.MeasuredP95Ms; p > 0 && m > 0 && (m > 1.5*p || m < p/1.5) {
		out = append(out, Risk{"low", fmt.Sprintf("Measured p95 (%s) differs from the model (%s) by more than half: the model's demands need calibrating.", fmtMs(m), fmtMs(p)),
			"Run crmplan calibrate --plan PLAN.yaml to set the tiers' demand_ms from the measured service times."})
	}
	return out
}
