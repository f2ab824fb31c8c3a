package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// What each section says when its input is missing. They name the command
// that produces the input, so a stakeholder can forward the line as is.
const (
	missingEstimate = "no sizing estimate: run crmplan size --plan PLAN.yaml"
	missingResult   = "no load test yet: run crmplan verify --plan PLAN.yaml"
	missingSeries   = "the load test recorded no time series: run crmplan verify --plan PLAN.yaml again"
	missingSweep    = "no what-if sweep: the plan's workload could not be swept"
	missingGrowth   = "no growth projection: set workload.growth and workload.years in the plan"
	missingProject  = "no growth projection: the model could not project the plan's growth"
	missingTopology = "no topology: the plan's hosts could not be laid out (run crmplan size --plan PLAN.yaml to see why)"
	missingDiagram  = "no topology diagram in this build of crmplan: the zones, hosts and links are listed below"
)

// Verdicts of the executive summary.
const (
	VerdictCarries      = "carries"
	VerdictAtRisk       = "at-risk"
	VerdictDoesNotCarry = "does-not-carry"
	VerdictUnknown      = "unknown" // not sized: nothing to judge
)

// lowHeadroomPct is the headroom below which the summary calls the design at
// risk: a 25 % burst above the design rate is common on a Monday morning.
const lowHeadroomPct = 25

// Build makes the report from in. It fails only when the plan has no name,
// because the report's title and file locations hang on it; every other gap
// becomes a section's Missing sentence.
func Build(in Inputs) (Report, error) {
	if strings.TrimSpace(in.Plan.Name) == "" {
		return Report{}, crmplan.Errorf(crmplan.EINVALID, "the plan has no name").
			In("name").Try("add `name: simplecrm` at the top of the plan file")
	}
	at := in.GeneratedAt
	if at.IsZero() {
		at = time.Now().UTC()
	}
	r := Report{
		Title:        fmt.Sprintf("Capacity report: %s", in.Plan.Name),
		Plan:         in.Plan.Name,
		GeneratedAt:  at,
		Deployed:     deployed(in),
		SLO:          in.Plan.SLO,
		Workload:     workloadSection(in),
		Topology:     topologySection(in),
		Tiers:        tiersSection(in),
		Measured:     measuredSection(in),
		Timeline:     timelineSection(in),
		Availability: availabilitySection(in),
		Network:      networkSection(in),
		WhatIf:       whatIfSection(in),
		Growth:       growthSection(in),
		Database:     databaseSection(in),
	}
	if r.SLO.P95Ms == 0 {
		r.SLO.P95Ms = sizing.DefaultSLO().P95Ms
	}
	if r.SLO.ErrorRate == 0 {
		r.SLO.ErrorRate = sizing.DefaultSLO().ErrorRate
	}
	r.Cost = costSection(in, r.Tiers.Tiers)
	r.Summary = summary(in, r)
	r.Assumptions = assumptions(in, r)
	r.Risks = risks(in, r)
	if in.PlanPath != "" {
		namePlan(&r, in.PlanPath)
	}
	return r, nil
}

// namePlan puts the user's plan path into every hint, so that a command in
// the report can be pasted as it stands.
func namePlan(r *Report, path string) {
	for _, m := range []*string{&r.Workload.Missing, &r.Topology.Missing, &r.Tiers.Missing, &r.Measured.Missing,
		&r.Timeline.Missing, &r.Availability.Missing, &r.Network.Missing, &r.Network.Note, &r.WhatIf.Missing, &r.Growth.Missing, &r.Database.Missing, &r.Cost.Missing, &r.Summary.Paragraph} {
		*m = strings.ReplaceAll(*m, "PLAN.yaml", path)
	}
	for i := range r.Risks {
		r.Risks[i].Action = strings.ReplaceAll(r.Risks[i].Action, "PLAN.yaml", path)
	}
}

func deployed(in Inputs) string {
	if in.Inventory == nil {
		return ""
	}
	s := fmt.Sprintf("%s target, %d hosts", in.Inventory.Target, len(in.Inventory.Hosts))
	if in.Inventory.AppVersion != "" {
		s += ", app " + in.Inventory.AppVersion
	}
	return s
}

func workloadSection(in Inputs) WorkloadSection {
	if in.Estimate == nil {
		return WorkloadSection{Missing: missingEstimate}
	}
	w, e := in.Plan.Workload, in.Estimate.Workload
	peak := w.PeakFactor
	if peak == 0 {
		peak = 1
	}
	perUser := w.TPM / 60
	rows := []Row{
		{"Named users", fmtInt(int64(e.NamedUsers)), "from the plan"},
		{"Concurrent logged-in sessions", fmtPct(w.Concurrency), "share of named users logged in at once"},
		{"Concurrent users", fmtNum(e.ConcurrentUsers, 0), fmt.Sprintf("%s × %s", fmtInt(int64(e.NamedUsers)), fmtPct(w.Concurrency))},
		{"Server requests per active session per minute (TPM)", fmtShort(w.TPM), "from the plan"},
		{"Server requests per active session per second", fmtNum(perUser, 4), fmt.Sprintf("%s / 60", fmtShort(w.TPM))},
		{"Requests per second (average)", fmtNum(e.RequestsPerSecond, 1), fmt.Sprintf("%s × %s", fmtNum(e.ConcurrentUsers, 0), fmtNum(perUser, 4))},
		{"Peak factor", fmtShort(peak), "peak-hour rate over the average"},
	}
	if w.Growth > 0 && w.Years > 0 {
		rows = append(rows, Row{"Growth", fmt.Sprintf("%s a year for %d years", fmtPct(w.Growth), w.Years), "named users and records"})
	}
	rows = append(rows,
		Row{"Design rate (requests per second)", fmtNum(e.DesignRate, 1), "what the tiers are sized for: peak and growth applied"},
		Row{"Records", fmtInt(e.Records), "in the database today"},
	)
	if e.DesignRecords > e.Records {
		rows = append(rows, Row{"Records at the end of the horizon", fmtInt(e.DesignRecords), "records grown for the horizon"})
	}
	return WorkloadSection{Rows: rows, NamedUsers: e.NamedUsers, ConcurrentUsers: e.ConcurrentUsers,
		RequestsPerSecond: e.RequestsPerSecond, DesignRate: e.DesignRate}
}

func topologySection(in Inputs) TopologySection {
	s := TopologySection{SVG: in.DiagramSVG}
	if in.Topology == nil {
		s.Missing = missingTopology
		return s
	}
	if in.DiagramSVG == "" {
		s.Missing = missingDiagram
	}
	for _, z := range in.Topology.Zones {
		zh := ZoneHost{Zone: z.Name, Kind: string(z.Kind), Hosts: []string{}}
		for _, h := range in.Topology.Hosts {
			if h.Zone == z.Name {
				zh.Hosts = append(zh.Hosts, h.Name)
			}
		}
		s.Zones = append(s.Zones, zh)
	}
	for _, l := range in.Topology.Links {
		s.Links = append(s.Links, fmt.Sprintf("%s -> %s :%d", l.From, l.To, l.Port))
	}
	return s
}

func tiersSection(in Inputs) TiersSection {
	if in.Estimate == nil {
		return TiersSection{Missing: missingEstimate}
	}
	e := in.Estimate
	s := TiersSection{P95Ms: e.EndToEnd.P95Ms, FailoverP95Ms: e.Failover.P95Ms, Unbounded: e.EndToEnd.Unbounded, SLOMiss: e.SLOMiss}
	for _, t := range e.Tiers {
		sat, users := saturation(in, t)
		tier := Tier{Role: t.Role, Servers: t.Servers, Cores: t.Cores, ArrivalRate: t.ArrivalRate,
			Utilization: t.Utilization, PredictedP95Ms: t.PredictedP95Ms, PredictedMeanMs: t.PredictedMeanMs,
			SaturationRate: sat, SaturationNamedUsers: users, Reason: t.Reason, Detail: t.Detail, Overloaded: t.Overloaded}
		for _, p := range in.Plan.Tiers {
			if p.Role == t.Role {
				tier.Zone, tier.Instance = p.Zone, p.Instance
			}
		}
		if m, ok := measuredTier(in, t.Role); ok {
			u, ms := m.Utilization, m.MeanMs
			tier.MeasuredUtilization, tier.MeasuredMeanMs = &u, &ms
		}
		if in.AtTestRate != nil {
			for _, at := range in.AtTestRate.Tiers {
				if at.Role == t.Role {
					u := at.Utilization
					tier.TestUtilization = &u
				}
			}
		}
		s.Tiers = append(s.Tiers, tier)
	}
	return s
}

// saturation returns the rate and the named users at which t reaches 100 %
// utilization. The estimate carries both; when an older estimate left them
// zero they follow from utilization, which grows linearly with the rate.
func saturation(in Inputs, t sizing.TierEstimate) (float64, int) {
	rate, users := t.SaturationRate, t.SaturationNamedUsers
	if rate == 0 && t.Utilization > 0 {
		rate = t.ArrivalRate / t.Utilization
	}
	w := in.Estimate.Workload
	if users == 0 && rate > 0 && w.DesignRate > 0 && t.ArrivalRate > 0 {
		// The design rate carries peak and growth; named users today carry
		// neither, so scale by today's share of the design rate.
		users = int(float64(w.NamedUsers) * rate / t.ArrivalRate * w.RequestsPerSecond / w.DesignRate)
	}
	return rate, users
}

func measuredSection(in Inputs) MeasuredSection {
	res := in.Result
	if res == nil {
		return MeasuredSection{Missing: missingResult}
	}
	m := MeasuredSection{StartedAt: res.StartedAt.UTC().Format(time.RFC3339), DurationS: res.DurationS,
		TargetRate: res.TargetRate, AchievedRate: res.AchievedRate, Requests: res.Requests, ErrorRate: res.ErrorRate,
		MeasuredP95Ms: res.Latency.P95Ms, MeasuredMeanMs: res.Latency.MeanMs, SLOP95Ms: res.SLO.P95Ms,
		Passed: res.SLO.Passed, Violations: res.SLO.Violations, Generators: res.Generators, StartSkewMs: res.StartSkewMs}
	// Compare at the test's rate when the model was run there; the design
	// rate's prediction is the fallback (verify drives the design rate by default).
	if est := in.AtTestRate; est != nil && !est.EndToEnd.Unbounded {
		m.PredictedP95Ms, m.PredictedMeanMs, m.PredictedAt = est.EndToEnd.P95Ms, est.EndToEnd.MeanMs, res.TargetRate
	} else if est := in.Estimate; est != nil && !est.EndToEnd.Unbounded {
		m.PredictedP95Ms, m.PredictedMeanMs, m.PredictedAt = est.EndToEnd.P95Ms, est.EndToEnd.MeanMs, est.Workload.DesignRate
	}
	here := res.Predicted
	if here != nil && !here.Unbounded {
		m.Here = &HerePrediction{Model: here.Model, Why: here.Why, Rate: here.Rate, MeanMs: here.MeanMs, P95Ms: here.P95Ms}
	}
	if in.Inventory != nil {
		m.SeededRecords = in.Inventory.Records
	}
	if in.Estimate != nil {
		m.PlanRecords = in.Estimate.Workload.Records
	}
	for _, c := range sizing.Classes() {
		if cr, ok := res.ByClass[string(c)]; ok {
			cl := Class{Name: string(c), Requests: cr.Requests, Failed: cr.Failed,
				P50Ms: cr.Latency.P50Ms, P95Ms: cr.Latency.P95Ms, P99Ms: cr.Latency.P99Ms}
			if v, ok := res.SLO.Classes[string(c)]; ok {
				cl.SLOP95Ms, cl.SLOPassed = v.P95Ms, &v.Passed
			}
			if m.Here != nil {
				p := here.ByClass[string(c)]
				cl.HereMeanMs, cl.HereP95Ms = p.MeanMs, p.P95Ms
			}
			m.Classes = append(m.Classes, cl)
		}
	}
	if fm := in.FindMax; fm != nil {
		m.Capacity = &Capacity{MeasuredMax: fm.MaxRate, PredictedSaturation: fm.PredictedSaturation,
			PredictedSaturationHere: fm.PredictedSaturationHere, USL: fm.USL}
		if fm.USL != nil {
			m.Capacity.USLText = fm.USL.String()
		}
	}
	return m
}

func timelineSection(in Inputs) TimelineSection {
	res := in.Result
	if res == nil {
		return TimelineSection{Missing: missingResult}
	}
	if len(res.Series) == 0 {
		return TimelineSection{Missing: missingSeries}
	}
	t := TimelineSection{Points: res.Series, TargetRate: res.TargetRate, SLOP95Ms: res.SLO.P95Ms}
	// The first interval holds k6's ramp-up and the last its wind-down:
	// neither says whether the stack held the rate.
	full := res.Series
	if len(full) >= 4 {
		full = full[1 : len(full)-1]
	}
	t.MinRate = full[0].Rate
	for _, p := range full {
		t.MinRate = min(t.MinRate, p.Rate)
	}
	for _, p := range res.Series {
		t.MaxP95Ms = max(t.MaxP95Ms, p.P95Ms)
	}
	return t
}
