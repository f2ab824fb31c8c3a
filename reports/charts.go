package reports

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
)

// Colours with a meaning, the same in every chart.
const (
	colPredicted = "#0072B2"
	colMeasured  = "#E69F00"
	colLimit     = "#C0392B" // objectives and saturation
	colTarget    = "#555555" // the design point
)

func pctAxis(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + "%" }
func msAxis(v float64) string  { return fmtNum(v, 0) + " ms" }
func usersAxis(v float64) string {
	if v >= 10000 {
		return fmtNum(v/1000, 0) + "k"
	}
	return fmtNum(v, 0)
}
func numAxis(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
func secAxis(v float64) string { return fmtNum(v, 0) + " s" }

// Charts are the report's SVG figures; an empty one means its section is
// missing and the page shows the section's Missing sentence instead.
type Charts struct {
	Utilization  template.HTML
	Latency      template.HTML
	Throughput   template.HTML
	P95OverTime  template.HTML
	Availability template.HTML
	WhatIfSrv    template.HTML
	WhatIfP95    template.HTML
	Growth       template.HTML
}

func charts(r Report) Charts {
	var c Charts
	if r.Tiers.Missing == "" {
		c.Utilization = utilizationChart(r)
	}
	if r.Measured.Missing == "" {
		c.Latency = latencyChart(r)
	}
	if r.Timeline.Missing == "" {
		c.Throughput, c.P95OverTime = timelineCharts(r.Timeline)
	}
	if r.Availability.Missing == "" {
		c.Availability = availabilityChart(r.Availability)
	}
	if r.WhatIf.Missing == "" {
		c.WhatIfSrv, c.WhatIfP95 = whatIfCharts(r)
	}
	if r.Growth.Missing == "" {
		c.Growth = growthChart(r.Growth)
	}
	return c
}

// colAtTest is the model at the load test's rate: a lighter predicted blue.
const colAtTest = "#56B4E9"

func utilizationChart(r Report) template.HTML {
	c := barChart{Title: "Utilization per tier", YLabel: "CPU utilization", YFmt: pctAxis, Wide: true,
		HGuides: []guide{{Label: "saturation", Value: 100, Color: colLimit}}}
	design, atTest, meas := []float64{}, []float64{}, []float64{}
	anyAtTest := false
	for _, t := range r.Tiers.Tiers {
		c.Labels = append(c.Labels, t.Role)
		design = append(design, t.Utilization*100)
		atTest = append(atTest, pctOrNaN(t.TestUtilization))
		meas = append(meas, pctOrNaN(t.MeasuredUtilization))
		anyAtTest = anyAtTest || t.TestUtilization != nil
	}
	c.Series = []series{{Name: "predicted at the design rate", Color: colPredicted}}
	c.Values = [][]float64{design}
	if anyAtTest {
		c.Series = append(c.Series, series{Name: "predicted at the test's rate", Color: colAtTest})
		c.Values = append(c.Values, atTest)
	}
	if r.Measured.Missing == "" {
		c.Series = append(c.Series, series{Name: "measured in the load test", Color: colMeasured})
		c.Values = append(c.Values, meas)
	}
	return c.svg()
}

func pctOrNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v * 100
}

func latencyChart(r Report) template.HTML {
	m := r.Measured
	pred := []float64{math.NaN(), math.NaN()}
	if m.PredictedAt > 0 {
		pred = []float64{m.PredictedMeanMs, m.PredictedP95Ms}
	}
	c := barChart{Title: "End-to-end response time: predicted vs measured", YLabel: "response time", YFmt: msAxis,
		Labels: []string{"mean", "p95"},
		Series: []series{{Name: "predicted", Color: colPredicted}, {Name: "measured", Color: colMeasured}},
		Values: [][]float64{pred, {m.MeasuredMeanMs, m.MeasuredP95Ms}}}
	if m.SLOP95Ms > 0 {
		c.HGuides = []guide{{Label: "objective p95 " + fmtMs(m.SLOP95Ms), Value: m.SLOP95Ms, Color: colLimit}}
	}
	return c.svg()
}

func timelineCharts(t TimelineSection) (template.HTML, template.HTML) {
	rate := series{Name: "completed requests/s", Color: colMeasured}
	p95 := series{Name: "p95", Color: colMeasured}
	for _, p := range t.Points {
		rate.Points = append(rate.Points, xy{p.AtS, p.Rate})
		p95.Points = append(p95.Points, xy{p.AtS, p.P95Ms})
	}
	thr := lineChart{Title: "Throughput during the load test", XLabel: "time since start", YLabel: "requests/s",
		Series: []series{rate}, XFmt: secAxis, YFmt: numAxis, YFromZero: true,
		HGuides: []guide{{Label: "target " + fmtNum(t.TargetRate, 0) + " req/s", Value: t.TargetRate, Color: colTarget}}}
	lat := lineChart{Title: "p95 response time during the load test", XLabel: "time since start", YLabel: "p95",
		Series: []series{p95}, XFmt: secAxis, YFmt: msAxis, YFromZero: true}
	if t.SLOP95Ms > 0 {
		lat.HGuides = []guide{{Label: "objective " + fmtMs(t.SLOP95Ms), Value: t.SLOP95Ms, Color: colLimit}}
	}
	return thr.svg(), lat.svg()
}

func whatIfCharts(r Report) (template.HTML, template.HTML) {
	w := r.WhatIf
	srv := serversChart("Servers needed as named users grow", "named users", w.Roles, len(w.Points), false)
	p95 := series{Name: "predicted p95", Color: colPredicted}
	for i, p := range w.Points {
		label := usersAxis(float64(p.NamedUsers))
		srv.Labels = append(srv.Labels, label)
		for j, role := range w.Roles {
			srv.Values[j][i] = float64(p.Servers[role])
		}
		if p.NamedUsers == r.Workload.NamedUsers {
			srv.Mark = i + 1
		}
		p95.Points = append(p95.Points, xy{float64(p.NamedUsers), p.P95Ms})
	}
	lat := lineChart{Title: "Predicted p95 as named users grow", XLabel: "named users", YLabel: "p95",
		Series: []series{p95}, XFmt: usersAxis, YFmt: msAxis, YFromZero: true}
	if slo := r.SLO.P95Ms; slo > 0 {
		lat.HGuides = []guide{{Label: "objective " + fmtMs(slo), Value: slo, Color: colLimit}}
	}
	if r.Workload.NamedUsers > 0 {
		lat.VGuides = []guide{{Label: "plan", Value: float64(r.Workload.NamedUsers), Color: colTarget}}
	}
	return srv.svg(), lat.svg()
}

// serversChart is a stacked bar chart of servers per tier, one bar per
// scenario: stacking keeps tiers of equal size from hiding each other.
func serversChart(title, xlabel string, roles []string, n int, wide bool) barChart {
	c := barChart{Title: title, XLabel: xlabel, YLabel: "servers", YFmt: numAxis, Stacked: true, Wide: wide}
	for i, role := range roles {
		c.Series = append(c.Series, series{Name: role, Color: color(i)})
		c.Values = append(c.Values, make([]float64, n))
	}
	return c
}

func growthChart(g GrowthSection) template.HTML {
	c := serversChart("Servers per tier over the planning horizon", "year", g.Roles, len(g.Years), false)
	for i, y := range g.Years {
		c.Labels = append(c.Labels, fmt.Sprintf("year %d", y.Year))
		for j, role := range g.Roles {
			c.Values[j][i] = float64(y.Servers[role])
		}
	}
	return c.svg()
}
