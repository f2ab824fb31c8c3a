package loadgen

import (
	"fmt"

	"github.com/crmplan/crmplan/sizing"
)

// classVerdicts judges every class the scenario sends against its own
// objective or the overall p95, as the script's per-class thresholds do.
// measured returns a class's steady-phase p95 and whether there is one; a
// class without requests passes, as k6's threshold on an empty submetric
// does.
func classVerdicts(sc Scenario, byClass map[string]ClassResult, measured func(class string) (float64, bool)) map[string]ClassVerdict {
	out := map[string]ClassVerdict{}
	for _, c := range sizing.Classes() {
		if !(sc.Mix[c] > 0) {
			continue
		}
		obj, own := sc.SLO.ClassP95Ms(c)
		v := ClassVerdict{P95Ms: obj, Own: own, Requests: byClass[string(c)].Requests, Passed: true}
		if p95, ok := measured(string(c)); ok && v.Requests > 0 {
			v.MeasuredP95Ms = p95
			v.Passed = p95 < obj
		}
		out[string(c)] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// summaryClassP95 reads a class's p95 from k6's summary (the submetric its
// threshold made), else from the samples' percentiles: a script a user
// edited may lack the threshold.
func summaryClassP95(sum summary, byClass map[string]ClassResult) func(string) (float64, bool) {
	return func(c string) (float64, bool) {
		if m, ok := sum.Metrics[classMetric(c)]; ok {
			if v, ok := m.Stats["p(95)"]; ok {
				return v, true
			}
		}
		r, ok := byClass[c]
		return r.Latency.P95Ms, ok && r.Requests > 0
	}
}

// classViolations words the failed classes that here says to judge as k6
// words a crossed threshold, for verdicts judged here rather than by k6.
func classViolations(classes map[string]ClassVerdict, here func(class string) bool) []string {
	var out []string
	for _, c := range (SLOResult{Classes: classes}).FailedClasses() {
		if !here(c) {
			continue
		}
		v := classes[c]
		out = append(out, fmt.Sprintf("%s: p(95)<%g crossed (p(95)=%.4g)", classMetric(c), v.P95Ms, v.MeasuredP95Ms))
	}
	return out
}
