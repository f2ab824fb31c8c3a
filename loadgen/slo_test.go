package loadgen

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/sizing"
)

func TestClassVerdicts(t *testing.T) {
	sc := Scenario{Mix: sizing.Mix{sizing.ClassList: 0.5, sizing.ClassReport: 0.5},
		SLO: sizing.SLO{P95Ms: 500, Classes: map[sizing.Class]sizing.ClassSLO{sizing.ClassReport: {P95Ms: 1000}, sizing.ClassView: {P95Ms: 50}}}}
	tests := []struct {
		name    string
		byClass map[string]ClassResult
		p95     map[string]float64
		want    map[string]ClassVerdict
	}{
		{"the overall objective and a class's own", map[string]ClassResult{"list": {Requests: 10}, "report": {Requests: 4}},
			map[string]float64{"list": 104, "report": 593},
			map[string]ClassVerdict{"list": {P95Ms: 500, MeasuredP95Ms: 104, Requests: 10, Passed: true},
				"report": {P95Ms: 1000, Own: true, MeasuredP95Ms: 593, Requests: 4, Passed: true}}},
		{"a class over the overall p95", map[string]ClassResult{"list": {Requests: 10}, "report": {Requests: 4}},
			map[string]float64{"list": 501, "report": 999},
			map[string]ClassVerdict{"list": {P95Ms: 500, MeasuredP95Ms: 501, Requests: 10, Passed: false},
				"report": {P95Ms: 1000, Own: true, MeasuredP95Ms: 999, Requests: 4, Passed: true}}},
		{"no requests of a class: passed, as k6 does", map[string]ClassResult{"list": {Requests: 10}},
			map[string]float64{"list": 20},
			map[string]ClassVerdict{"list": {P95Ms: 500, MeasuredP95Ms: 20, Requests: 10, Passed: true},
				"report": {P95Ms: 1000, Own: true, Passed: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classVerdicts(sc, tt.byClass, func(c string) (float64, bool) { v, ok := tt.p95[c]; return v, ok })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verdicts %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteSummaryNamesTheClass(t *testing.T) {
	res := Result{TargetRate: 150, AchievedRate: 150, Requests: 100,
		ByClass: map[string]ClassResult{"list": {Requests: 90, Latency: Percentiles{P95Ms: 40}}, "report": {Requests: 10, Latency: Percentiles{P95Ms: 593}}},
		SLO: SLOResult{P95Ms: 500, ErrorRate: 0.01, Classes: map[string]ClassVerdict{
			"list": {P95Ms: 500, MeasuredP95Ms: 40, Requests: 90, Passed: true}, "report": {P95Ms: 500, MeasuredP95Ms: 593, Requests: 10}},
			Violations: []string{"http_req_duration{scenario:steady,class:report}: p(95)<500 crossed (p(95)=593)"}}}
	var out bytes.Buffer
	if err := WriteSummary(&out, res, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SLO FAILED for class report (p95 593.0 ms, objective < 500 ms)", "< 500 FAILED", "< 500 ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	res.SLO = SLOResult{P95Ms: 500, ErrorRate: 0.01, Passed: true, Classes: map[string]ClassVerdict{
		"list": {P95Ms: 500, Passed: true}, "report": {P95Ms: 1000, Own: true, Passed: true}}}
	out.Reset()
	if err := WriteSummary(&out, res, nil); err != nil {
		t.Fatal(err)
	}
	if want := "SLO passed: p95 < 500 ms (report < 1000 ms; every other class < 500 ms) and errors < 1 %"; !strings.Contains(out.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, out.String())
	}
}
