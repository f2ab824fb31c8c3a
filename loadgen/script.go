package loadgen

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"text/template"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// Scenario is what a generated k6 script does: an open workload (arrivals at
// a fixed rate, whatever the response times) with the sizing model's mix.
type Scenario struct {
	Rate     float64       // requests/s in the steady phase
	RampUp   time.Duration // linear ramp from 0 to Rate before the steady phase; 0 for none
	Duration time.Duration // the steady phase, which the SLO judges
	Mix      sizing.Mix
	SLO      sizing.SLO
	// Timeout bounds one request; a request that takes longer fails with
	// k6's error code 1050. 0 means 10 s.
	Timeout time.Duration
}

// Validate returns EINVALID for a scenario k6 cannot run meaningfully.
func (s Scenario) Validate() error {
	switch {
	case !(s.Rate > 0) || math.IsInf(s.Rate, 0):
		return crmplan.Errorf(crmplan.EINVALID, "the request rate must be above 0, got %g", s.Rate).
			In("--rate").Try("crmplan verify --rate 150")
	case s.Duration < time.Second:
		return crmplan.Errorf(crmplan.EINVALID, "the duration must be at least 1s, got %s", s.Duration).
			In("--duration").Try("crmplan verify --duration 2m")
	case s.RampUp < 0:
		return crmplan.Errorf(crmplan.EINVALID, "the ramp-up must not be negative, got %s", s.RampUp).
			In("--ramp-up").Try("crmplan verify --ramp-up 20s")
	case !(s.SLO.P95Ms > 0):
		return crmplan.Errorf(crmplan.EINVALID, "the plan's SLO has no p95 latency").
			In("slo.p95_ms").Try("add `slo: {p95_ms: 500, error_rate: 0.01}` to the plan")
	case s.SLO.ErrorRate <= 0 || s.SLO.ErrorRate > 1:
		return crmplan.Errorf(crmplan.EINVALID, "the SLO error rate must be in (0, 1], got %g", s.SLO.ErrorRate).
			In("slo.error_rate").Try("add `slo: {p95_ms: 500, error_rate: 0.01}` to the plan")
	}
	total := 0.0
	for _, c := range sizing.Classes() {
		w := s.Mix[c]
		if w < 0 {
			return crmplan.Errorf(crmplan.EINVALID, "the share of %s must not be negative, got %g", c, w).
				In("workload.mix." + string(c))
		}
		total += w
	}
	for c := range s.Mix {
		if !knownClass(c) {
			return crmplan.Errorf(crmplan.EINVALID, "unknown request class %q", c).
				In("workload.mix").Try("use the classes %v", sizing.Classes())
		}
	}
	for c, o := range s.SLO.Classes {
		if !knownClass(c) {
			return crmplan.Errorf(crmplan.EINVALID, "unknown request class %q", c).
				In("slo.classes").Try("use the classes %v", sizing.Classes())
		}
		if !(o.P95Ms > 0) || math.IsInf(o.P95Ms, 0) {
			return crmplan.Errorf(crmplan.EINVALID, "the p95 objective must be above 0 ms, got %g", o.P95Ms).
				In("slo.classes."+string(c)+".p95_ms").Try("slo: {classes: {%s: {p95_ms: 1000}}}", c)
		}
	}
	if !(total > 0) {
		return crmplan.Errorf(crmplan.EINVALID, "the request mix is empty").
			In("workload.mix").Try("remove workload.mix from the plan to use the default mix")
	}
	return nil
}

func knownClass(c sizing.Class) bool {
	for _, k := range sizing.Classes() {
		if k == c {
			return true
		}
	}
	return false
}

//go:embed script.js.tmpl
var scriptSource string

var scriptTemplate = template.Must(template.New("script.js").Parse(scriptSource))

// scriptData is the template's view of a Scenario: k6's option syntax.
type scriptData struct {
	Rate            int64
	TimeUnit        string
	RampUp          string
	Duration        string
	StartTime       string
	PreAllocatedVUs int
	MaxVUs          int
	P95Ms           string
	ErrorRate       string
	Timeout         string
	MixJSON         string
	Classes         []classThreshold
	// TokenSeconds is the life of the run's API token: the run and
	// tokenMargin (setup, teardown, graceful stops).
	TokenSeconds int64
}

// classThreshold is one class's p95 threshold in the script.
type classThreshold struct{ Class, P95Ms string }

// classThresholds are the p95 objectives of the classes the mix sends, in
// the model's class order.
func classThresholds(s Scenario) []classThreshold {
	var out []classThreshold
	for _, c := range sizing.Classes() {
		if s.Mix[c] > 0 {
			p95, _ := s.SLO.ClassP95Ms(c)
			out = append(out, classThreshold{Class: string(c), P95Ms: formatNumber(p95)})
		}
	}
	return out
}

// classMetric is the submetric of class c's threshold.
func classMetric(c string) string { return "http_req_duration{scenario:steady,class:" + c + "}" }

// tokenMargin is how long the run's token outlives ramp-up and steady phase.
const tokenMargin = 10 * time.Minute

// Script renders the k6 script for s. The output is deterministic, so a
// golden file pins it and users can diff an edited copy against a new one.
func Script(s Scenario) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	rate, unit := arrivalRate(s.Rate)
	pre, maxVUs := vuPool(s.Rate, s.SLO.P95Ms)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	mix := make(map[string]float64, len(s.Mix))
	for c, w := range s.Mix {
		if w > 0 {
			mix[string(c)] = w
		}
	}
	mixJSON, err := json.Marshal(mix) // map keys come out sorted
	if err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	data := scriptData{
		Rate:            rate,
		TimeUnit:        unit,
		Duration:        k6Duration(s.Duration),
		StartTime:       k6Duration(s.RampUp),
		PreAllocatedVUs: pre,
		MaxVUs:          maxVUs,
		P95Ms:           formatNumber(s.SLO.P95Ms),
		ErrorRate:       formatNumber(s.SLO.ErrorRate),
		Timeout:         k6Duration(timeout),
		MixJSON:         string(mixJSON),
		Classes:         classThresholds(s),
		TokenSeconds:    int64((s.RampUp + s.Duration + tokenMargin) / time.Second),
	}
	if s.RampUp > 0 {
		data.RampUp = k6Duration(s.RampUp)
	}
	var buf bytes.Buffer
	if err := scriptTemplate.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	return buf.Bytes(), nil
}

// arrivalRate expresses rate as k6's integer rate per time unit: per second
// when whole, else per minute (or per hour), so 2.5 req/s is 150 per minute.
func arrivalRate(rate float64) (int64, string) {
	for _, u := range []struct {
		name string
		secs float64
	}{{"1s", 1}, {"1m", 60}, {"1h", 3600}} {
		n := rate * u.secs
		if math.Abs(n-math.Round(n)) < 1e-9*n {
			return int64(math.Round(n)), u.name
		}
	}
	return int64(math.Round(rate * 3600)), "1h"
}

// vuPool sizes k6's VU pool. By Little's law a request rate R with response
// time W keeps R*W requests in flight; the preallocated pool covers every
// request taking the SLO's p95 (capped at 1 s, VUs cost memory and start-up
// time), and the maximum lets k6 keep the arrival rate while the target slows
// to about 3 s per request before it drops iterations, which is then the
// honest sign that the target cannot keep up.
func vuPool(rate, p95Ms float64) (pre, maxVUs int) {
	w := min(max(p95Ms/1000, 0.1), 1)
	pre = int(math.Ceil(rate*w)) + 10
	maxVUs = max(pre, int(math.Ceil(rate*3))+20)
	return pre, maxVUs
}

// k6Duration formats d in k6's syntax ("2m", "1m30s", "500ms").
func k6Duration(d time.Duration) string {
	if d%time.Second != 0 {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	s := int64(d / time.Second)
	switch {
	case s == 0:
		return "0s"
	case s%3600 == 0:
		return fmt.Sprintf("%dh", s/3600)
	case s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	case s > 60:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}

func formatNumber(f float64) string {
	return fmt.Sprintf("%g", f)
}
