package reports

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown renders r as GitHub-flavoured Markdown for a pull-request
// comment: the same sections and numbers as the HTML, with tables in place
// of the charts (a comment cannot hold inline SVG).
func WriteMarkdown(w io.Writer, r Report) error {
	md := &mdWriter{}
	md.header(r)
	md.workload(r.Workload)
	md.topology(r.Topology)
	md.tiers(r)
	md.measured(r.Measured, r.Timeline)
	md.availability(r.Availability)
	md.network(r.Network)
	md.whatIf(r.WhatIf)
	md.growth(r.Growth)
	md.database(r.Database)
	md.cost(r.Cost)
	md.risks(r)
	_, err := io.WriteString(w, md.String())
	return err
}

type mdWriter struct{ strings.Builder }

func (m *mdWriter) p(format string, args ...any) { fmt.Fprintf(m, format+"\n", args...) }

func (m *mdWriter) section(title, missing string) bool {
	m.p("\n### %s\n", title)
	if missing != "" {
		m.p("> **Missing:** %s", missing)
		return false
	}
	return true
}

// table writes a Markdown table; a header starting with ">" is right-aligned.
func (m *mdWriter) table(head []string, rows [][]string) {
	var h, sep []string
	for _, c := range head {
		if strings.HasPrefix(c, ">") {
			h, sep = append(h, c[1:]), append(sep, "---:")
		} else {
			h, sep = append(h, c), append(sep, "---")
		}
	}
	m.p("| %s |", strings.Join(h, " | "))
	m.p("| %s |", strings.Join(sep, " | "))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		m.p("| %s |", strings.Join(cells, " | "))
	}
}

func (m *mdWriter) header(r Report) {
	m.p("## %s\n", r.Title)
	m.p("**%s** · generated %s · objective p95 ≤ %s, errors ≤ %s\n", verdictText(r.Summary.Verdict),
		r.GeneratedAt.Format("2006-01-02 15:04 MST"), fmtMs(r.SLO.P95Ms), fmtPct(r.SLO.ErrorRate))
	m.p("%s\n", r.Summary.Paragraph)
	var head []string
	var row []string
	for _, h := range r.Summary.Headlines {
		head = append(head, h.Label)
		row = append(row, fmt.Sprintf("**%s** (%s)", h.Value, h.Note))
	}
	m.table(head, [][]string{row})
}

func (m *mdWriter) workload(s WorkloadSection) {
	if !m.section("Workload derivation", s.Missing) {
		return
	}
	var rows [][]string
	for _, r := range s.Rows {
		rows = append(rows, []string{r.Label, r.Value, r.How})
	}
	m.table([]string{"Assumption", ">Value", "How"}, rows)
}

func (m *mdWriter) topology(t TopologySection) {
	if len(t.Zones) == 0 {
		m.section("Topology", t.Missing)
		return
	}
	m.section("Topology", "")
	for _, z := range t.Zones {
		m.p("- **%s** (%s): %s", z.Zone, z.Kind, strings.Join(z.Hosts, ", "))
	}
	if len(t.Links) > 0 {
		m.p("\nAllowed links (everything else is denied): `%s`", strings.Join(t.Links, "`, `"))
	}
}

func (m *mdWriter) tiers(r Report) {
	if !m.section("Servers per tier", r.Tiers.Missing) {
		return
	}
	var rows [][]string
	for _, t := range r.Tiers.Tiers {
		meas, util := "–", fmtPct(t.Utilization)
		if t.MeasuredUtilization != nil {
			meas = fmtPct(*t.MeasuredUtilization)
			if t.TestUtilization != nil {
				meas += " (model " + fmtPct(*t.TestUtilization) + ")"
			}
		}
		if t.Overloaded {
			util += " **overloaded**"
		}
		sat := "–"
		if t.SaturationRate > 0 {
			sat = fmt.Sprintf("%s req/s (%s users)", fmtNum(t.SaturationRate, 0), fmtInt(int64(t.SaturationNamedUsers)))
		}
		rows = append(rows, []string{t.Role, t.Zone, fmt.Sprint(t.Servers), fmt.Sprint(t.Cores), fmtNum(t.ArrivalRate, 1),
			util, meas, fmtMs(t.PredictedP95Ms), sat, t.Reason})
	}
	m.table([]string{"Tier", "Zone", ">Servers", ">Cores", ">Requests/s", ">Utilization", ">Measured", ">Predicted p95", ">Saturates at", "Why"}, rows)
	if r.Tiers.Unbounded {
		m.p("\nA tier is overloaded: its queue grows without bound, so the model predicts no end-to-end latency.")
	} else {
		m.p("\nPredicted end-to-end p95 at the design rate: %s; with one server of every redundant tier down: %s.", fmtMs(r.Tiers.P95Ms), fmtMs(r.Tiers.FailoverP95Ms))
	}
	if r.Tiers.SLOMiss != "" {
		m.p("\n**%s**", r.Tiers.SLOMiss)
	}
}

// recordsNote says how many records the measured stack held beside the
// plan's: "" when the report does not know both.
func recordsNote(s MeasuredSection) string {
	if s.SeededRecords == 0 || s.PlanRecords == 0 {
		return ""
	}
	if s.SeededRecords >= s.PlanRecords {
		return fmt.Sprintf("The measured stack held %s records, the plan's %s.", fmtInt(s.SeededRecords), fmtInt(s.PlanRecords))
	}
	return fmt.Sprintf("The measured stack held %s records, %s of the plan's %s: queries that read more rows at full scale are slower than measured here.",
		fmtInt(s.SeededRecords), fmtPct(float64(s.SeededRecords)/float64(s.PlanRecords)), fmtInt(s.PlanRecords))
}

// classSLORows are the per-class verdicts: class, measured p95, objective,
// met or MISSED.
func classSLORows(classes []Class) [][]string {
	var rows [][]string
	for _, c := range classes {
		if c.SLOPassed == nil {
			continue
		}
		verdict := "met"
		if !*c.SLOPassed {
			verdict = "**MISSED**"
		}
		rows = append(rows, []string{c.Name, fmtMs(c.P95Ms), "< " + fmtMs(c.SLOP95Ms), verdict})
	}
	return rows
}

func (m *mdWriter) measured(s MeasuredSection, t TimelineSection) {
	if !m.section("Predicted vs measured", s.Missing) {
		return
	}
	outcome := "met"
	if !s.Passed {
		outcome = "missed"
	}
	m.p("Load test started %s, %s s at %s requests/s: %s achieved, %s requests, %s errors; objective **%s**.\n",
		s.StartedAt, fmtNum(s.DurationS, 0), fmtNum(s.TargetRate, 1), fmtNum(s.AchievedRate, 1), fmtInt(s.Requests), fmtPct(s.ErrorRate), outcome)
	if s.PredictedAt > 0 {
		m.p("Predictions are the model's at %s requests/s.\n", fmtNum(s.PredictedAt, 1))
	}
	if r := recordsNote(s); r != "" {
		m.p("%s\n", r)
	}
	if h := s.Here; h != nil {
		m.p("Predicted here: %s at %s requests/s, %s.\n", h.Model, fmtNum(h.Rate, 1), h.Why)
		m.table([]string{"Latency", ">Predicted (plan's servers)", ">Predicted here", ">Measured"}, [][]string{
			{"mean", fmtMs(s.PredictedMeanMs), fmtMs(h.MeanMs), fmtMs(s.MeasuredMeanMs)},
			{"p95", fmtMs(s.PredictedP95Ms), fmtMs(h.P95Ms), fmtMs(s.MeasuredP95Ms)},
		})
		var rows [][]string
		for _, c := range s.Classes {
			rows = append(rows, []string{c.Name, fmtMs(c.HereMeanMs), fmtMs(c.HereP95Ms), fmtMs(c.P50Ms), fmtMs(c.P95Ms)})
		}
		m.p("")
		m.table([]string{"Class", ">Mean here", ">p95 here", ">p50 measured", ">p95 measured"}, rows)
	} else {
		m.table([]string{"Latency", ">Predicted", ">Measured"}, [][]string{
			{"mean", fmtMs(s.PredictedMeanMs), fmtMs(s.MeasuredMeanMs)},
			{"p95", fmtMs(s.PredictedP95Ms), fmtMs(s.MeasuredP95Ms)},
		})
	}
	if c := s.Capacity; c != nil {
		rows := [][]string{{"measured (verify --find-max)", fmtNum(c.MeasuredMax, 1)},
			{"predicted, plan's servers", fmtNum(c.PredictedSaturation, 1)}}
		if c.PredictedSaturationHere > 0 {
			rows = append(rows, []string{"predicted here", fmtNum(c.PredictedSaturationHere, 1)})
		}
		if c.USL != nil && c.USL.PeakX > 0 {
			rows = append(rows, []string{"USL peak (fitted to the steps)", fmtNum(c.USL.PeakX, 1)})
		}
		m.p("")
		m.table([]string{"Maximum rate", ">Requests/s"}, rows)
		if c.USLText != "" {
			m.p("\nUSL: %s.", c.USLText)
		}
	}
	if rows := classSLORows(s.Classes); len(rows) > 0 {
		m.p("")
		m.table([]string{"Class", ">p95 measured", ">Objective", "Verdict"}, rows)
	}
	for _, v := range s.Violations {
		m.p("- %s", v)
	}
	if len(s.Generators) > 0 {
		m.generators(s)
	}
	if t.Missing == "" {
		m.p("\nOver the run (%d intervals): lowest throughput in a full interval %s requests/s (target %s), highest p95 %s.",
			len(t.Points), fmtNum(t.MinRate, 1), fmtNum(t.TargetRate, 1), fmtMs(t.MaxP95Ms))
	} else {
		m.p("\n> **Missing:** %s", t.Missing)
	}
}

// generators lists each load generator's share of the test.
func (m *mdWriter) generators(s MeasuredSection) {
	m.p("\nThe load came from %d generators, started within %s ms of each other; the latency is their merged histograms.\n",
		len(s.Generators), fmtNum(s.StartSkewMs, 1))
	var rows [][]string
	for _, g := range s.Generators {
		if g.Error != "" {
			rows = append(rows, []string{g.Host, g.Segment, "–", "–", "–", g.Error})
			continue
		}
		rows = append(rows, []string{g.Host, g.Segment, fmtNum(g.AchievedRate, 1) + "/s", fmtInt(g.Dropped), fmtNum(g.CPU, 2), ""})
	}
	rows = append(rows, []string{"**total**", "", fmtNum(s.AchievedRate, 1) + "/s", "", "", ""})
	m.table([]string{"Generator", "Share", ">Achieved", ">Dropped iterations", ">CPU (cores)", "Note"}, rows)
}

func (m *mdWriter) whatIf(s WhatIfSection) {
	if !m.section("What if the number of users changes?", s.Missing) {
		return
	}
	head := []string{">Named users", ">Requests/s"}
	for _, role := range s.Roles {
		head = append(head, ">"+role)
	}
	head = append(head, ">p95", "Meets objective")
	var rows [][]string
	for _, p := range s.Points {
		row := []string{fmtInt(int64(p.NamedUsers)), fmtNum(p.RequestsPerSecond, 1)}
		for _, role := range s.Roles {
			row = append(row, fmt.Sprint(p.Servers[role]))
		}
		rows = append(rows, append(row, fmtMs(p.P95Ms), yesNo(p.MeetsSLO)))
	}
	m.table(head, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (m *mdWriter) growth(s GrowthSection) {
	if !m.section("Growth projection", s.Missing) {
		return
	}
	if len(s.Next) == 0 {
		m.p("No tier needs another server within the %d-year horizon at %s growth a year.", len(s.Years)-1, fmtPct(s.Growth))
	}
	for _, n := range s.Next {
		m.p("- **%s**: year %d (%s named users) needs %d servers instead of %d.", n.Role, n.Year, fmtInt(int64(n.NamedUsers)), n.To, n.From)
	}
}

func (m *mdWriter) database(d DatabaseSection) {
	if !m.section("Database", d.Missing) {
		return
	}
	rows := [][]string{
		{"Records today", fmtInt(d.Records)},
		{"Storage (indexes included)", fmtBytes(d.StorageBytes)},
		{"Daily working set", fmtBytes(d.WorkingSetBytes)},
		{"Memory per database server", fmtBytes(d.MemoryBytes)},
		{"Replication", fmt.Sprintf("%s, %d replica(s)", d.Replication, d.Replicas)},
		{"shared_buffers / effective_cache_size", d.Settings.SharedBuffers + " / " + d.Settings.EffectiveCacheSize},
		{"work_mem / maintenance_work_mem", d.Settings.WorkMem + " / " + d.Settings.MaintenanceWorkMem},
		{"max_connections", fmt.Sprint(d.Settings.MaxConnections)},
	}
	for _, p := range d.Pools {
		rows = append(rows, []string{fmt.Sprintf("Pool of the %s tier (the same up to %d servers)", p.Role, p.ScalesTo),
			fmt.Sprintf("%d: %d on each of %d", p.Total, p.PerServer, p.Servers)})
	}
	m.table([]string{"Item", ">Value"}, rows)
}

func (m *mdWriter) cost(c CostSection) {
	if !m.section("Monthly cost", c.Missing) {
		return
	}
	var rows [][]string
	for _, l := range c.Lines {
		rows = append(rows, []string{l.Role, "`" + l.Instance + "`", fmt.Sprint(l.Servers), fmtMoney(l.Unit, c.Currency), fmtMoney(l.Monthly, c.Currency)})
	}
	rows = append(rows, []string{"**Total**", "", "", "", "**" + fmtMoney(c.Total, c.Currency) + "**"})
	m.table([]string{"Tier", "Instance", ">Servers", ">Per server", ">Per month"}, rows)
	m.p("\nPrices: %s, as of %s.", c.Source, c.AsOf)
	if len(c.Unpriced) > 0 {
		m.p("Not priced: %s.", strings.Join(c.Unpriced, ", "))
	}
}

func (m *mdWriter) risks(r Report) {
	m.section("Risks", "")
	for _, k := range r.Risks {
		m.p("- **%s**: %s %s", k.Level, k.Risk, k.Action)
	}
	m.section("Assumptions", "")
	for _, a := range r.Assumptions {
		m.p("- %s", a)
	}
}
