package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// summary is k6's end-of-test summary as written by --summary-export: each
// metric (and each submetric a threshold names, "http_req_duration{scenario:steady}")
// with its statistics, and for thresholds whether they were crossed.
type summary struct {
	Metrics map[string]summaryMetric `json:"metrics"`
}

// summaryMetric holds the statistics of one metric. Trends have avg, min,
// med, max and p(N); counters count and rate; rates value, passes (non-zero
// samples, i.e. failures for http_req_failed) and fails. Thresholds maps each
// threshold expression to true when it was crossed.
type summaryMetric struct {
	Stats      map[string]float64
	Thresholds map[string]bool
}

func (m *summaryMetric) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Stats = map[string]float64{}
	for k, v := range raw {
		if k == "thresholds" {
			if err := json.Unmarshal(v, &m.Thresholds); err != nil {
				return fmt.Errorf("thresholds: %w", err)
			}
			continue
		}
		var f float64
		if err := json.Unmarshal(v, &f); err == nil {
			m.Stats[k] = f
		}
	}
	return nil
}

// readSummary parses a --summary-export file.
func readSummary(r io.Reader) (summary, error) {
	var s summary
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return summary{}, fmt.Errorf("k6 summary: %w", err)
	}
	if s.Metrics == nil {
		return summary{}, fmt.Errorf("k6 summary: no metrics")
	}
	return s, nil
}

// The submetrics the generated script's thresholds create; they cover only
// the steady phase, which is what the SLO judges.
const (
	steadyDuration = "http_req_duration{scenario:steady}"
	steadyFailed   = "http_req_failed{scenario:steady}"
)

// latency returns the trend statistics of metric as Percentiles.
func (s summary) latency(metric string) Percentiles {
	st := s.Metrics[metric].Stats
	return Percentiles{
		MeanMs: st["avg"], P50Ms: st["med"], P90Ms: st["p(90)"],
		P95Ms: st["p(95)"], P99Ms: st["p(99)"], MaxMs: st["max"],
	}
}

// steady returns the steady phase's requests, failures and latency. A script
// a user edited may have no steady scenario: then the whole test counts.
func (s summary) steady() (requests, failed int64, lat Percentiles) {
	dur, fail := steadyDuration, steadyFailed
	if _, ok := s.Metrics[fail]; !ok {
		dur, fail = "http_req_duration", "http_req_failed"
	}
	f := s.Metrics[fail].Stats
	return int64(f["passes"] + f["fails"]), int64(f["passes"]), s.latency(dur)
}

// dropped returns the iterations k6 could not start for lack of a free VU:
// the sign that the target did not keep up with the arrival rate.
func (s summary) dropped() int64 {
	return int64(s.Metrics["dropped_iterations"].Stats["count"])
}

// violations lists the thresholds that were crossed, sorted, each with the
// value that crossed it.
func (s summary) violations() []string {
	var out []string
	for name, m := range s.Metrics {
		for expr, crossed := range m.Thresholds {
			if !crossed {
				continue
			}
			out = append(out, fmt.Sprintf("%s: %s crossed (%s)", name, expr, observed(m, expr)))
		}
	}
	sort.Strings(out)
	return out
}

// observed returns the statistic a threshold expression tests, "p(95)=812.4".
func observed(m summaryMetric, expr string) string {
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '<', '>', '=', '!':
			stat := expr[:i]
			if stat == "rate" {
				stat = "value"
			}
			if v, ok := m.Stats[stat]; ok {
				return fmt.Sprintf("%s=%.4g", expr[:i], v)
			}
			return expr[:i] + " unknown"
		}
	}
	return "?"
}
