package loadgen

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

func asError(err error, target **crmplan.Error) bool { return errors.As(err, target) }

func readFixtures(t *testing.T) (summary, points) {
	t.Helper()
	sf, err := os.Open("testdata/k6-summary.json")
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	sum, err := readSummary(sf)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := os.Open("testdata/k6-points.json")
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	pts, err := readPoints(pf)
	if err != nil {
		t.Fatal(err)
	}
	return sum, pts
}

// The fixtures are a real k6 run (TestRecordFixtures): 20 req/s for 3 s
// after a 1 s ramp-up against the fake CRM with 3 ms per request, and a
// p95 SLO of 4 ms that the run crossed.
func TestSummaryFixture(t *testing.T) {
	sum, pts := readFixtures(t)
	requests, failed, lat := sum.steady()
	if requests != 61 || failed != 0 {
		t.Errorf("steady requests, failed = %d, %d; want 61, 0 (20/s for 3 s, both ends)", requests, failed)
	}
	if lat.P95Ms < 3 || lat.P50Ms > lat.P95Ms || lat.P95Ms > lat.P99Ms || lat.P99Ms > lat.MaxMs {
		t.Errorf("latency %+v: want ordered percentiles above the fake's 3 ms", lat)
	}
	if got := sum.dropped(); got != 0 {
		t.Errorf("dropped = %d, want 0", got)
	}
	v := sum.violations()
	if len(v) != 1 || !strings.HasPrefix(v[0], "http_req_duration{scenario:steady}: p(95)<4 crossed (p(95)=5.") {
		t.Errorf("violations = %q, want the p95 threshold with its value", v)
	}

	// The points are the same requests: counts agree with the summary and
	// our percentiles with k6's own.
	var steadyMs []float64
	for _, s := range pts.requests {
		if s.scenario == steadyScenario {
			steadyMs = append(steadyMs, s.ms)
		}
	}
	if int64(len(steadyMs)) != requests {
		t.Errorf("points have %d steady requests, summary %d", len(steadyMs), requests)
	}
	ours := percentiles(steadyMs)
	for name, pair := range map[string][2]float64{
		"mean": {ours.MeanMs, lat.MeanMs}, "p50": {ours.P50Ms, lat.P50Ms}, "p90": {ours.P90Ms, lat.P90Ms},
		"p95": {ours.P95Ms, lat.P95Ms}, "p99": {ours.P99Ms, lat.P99Ms}, "max": {ours.MaxMs, lat.MaxMs},
	} {
		if math.Abs(pair[0]-pair[1]) > 1e-6*math.Max(1, pair[1]) {
			t.Errorf("%s: ours %.6f, k6 %.6f", name, pair[0], pair[1])
		}
	}
	total := int64(0)
	for _, c := range pts.byClass() {
		total += c.Requests
	}
	if total != requests {
		t.Errorf("classes sum to %d, want %d", total, requests)
	}
}

func TestBuildResultFromFixture(t *testing.T) {
	sum, pts := readFixtures(t)
	sc := Scenario{Rate: 20, RampUp: time.Second, Duration: 3 * time.Second, Mix: testMix, SLO: sizing.SLO{P95Ms: 4, ErrorRate: 0.01}}
	res := buildResult(sum, pts, sc, time.Second)
	if math.Abs(res.AchievedRate-61.0/3) > 1e-9 {
		t.Errorf("achieved = %g, want 61/3", res.AchievedRate)
	}
	if res.SLO.Passed || res.SLO.P95Ms != 4 {
		t.Errorf("SLO = %+v, want failed at 4 ms", res.SLO)
	}
	// 1 s ramp plus 3 s steady, plus setup: about 4-5 one-second points
	// whose counts add up to every request.
	n := 0.0
	for _, p := range res.Series {
		n += p.Rate
	}
	if len(res.Series) < 4 || len(res.Series) > 6 || int(n) != len(pts.requests) {
		t.Errorf("series = %+v (%g requests), want 4-6 points covering %d", res.Series, n, len(pts.requests))
	}
	// The series is placed on the clock by its first request, which a
	// test lining it up with a deploy's events needs.
	first := pts.requests[0].at
	for _, r := range pts.requests {
		if r.at.Before(first) {
			first = r.at
		}
	}
	if !res.SeriesStart.Equal(first) {
		t.Errorf("series start = %v, want the first request's %v", res.SeriesStart, first)
	}
}

func TestReadPointsErrors(t *testing.T) {
	_, err := readPoints(strings.NewReader(`{"type":"Point","metric":"http_req_duration","data":{"time":"x"}}` + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("err = %v, want one naming line 1", err)
	}
	if _, err := readSummary(strings.NewReader(`{"root_group":{}}`)); err == nil {
		t.Error("a summary without metrics parsed")
	}
}

func TestPercentiles(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", []float64{7}, Percentiles{7, 7, 7, 7, 7, 7}},
		// 1..101: rank p*(n-1) lands on whole numbers.
		{"1..101", seq(1, 101), Percentiles{MeanMs: 51, P50Ms: 51, P90Ms: 91, P95Ms: 96, P99Ms: 100, MaxMs: 101}},
		{"interpolated", []float64{10, 20}, Percentiles{MeanMs: 15, P50Ms: 15, P90Ms: 19, P95Ms: 19.5, P99Ms: 19.9, MaxMs: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := percentiles(tt.in)
			if math.Abs(got.P95Ms-tt.want.P95Ms) > 1e-9 || math.Abs(got.P99Ms-tt.want.P99Ms) > 1e-9 ||
				got.P50Ms != tt.want.P50Ms || got.MaxMs != tt.want.MaxMs || got.MeanMs != tt.want.MeanMs {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func seq(from, to int) []float64 {
	var out []float64
	for i := to; i >= from; i-- { // reversed: percentiles must sort
		out = append(out, float64(i))
	}
	return out
}
