package wire

import (
	"strconv"
	"time"

	"github.com/crmplan/crmplan/latency"
)

// WorkLoad runs one load generator's share of a verify run on a loadgen
// host: `crmplan-host agent load`, payload a LoadSpec (JSON), output a
// LoadReport (JSON). Several such units, one per generator, each with its
// own k6 execution segment of the same script, make up a run with more
// load than one host gives.
const WorkLoad = "crmplan-load"

// LoadSpec is a generator's share of a run. It travels as payload: Env
// holds the load user's password.
type LoadSpec struct {
	Script string `json:"script"`
	// Segment and Sequence are k6's --execution-segment and
	// --execution-segment-sequence ("1/3:2/3", "0,1/3,2/3,1"): k6 gives
	// this generator that share of every scenario's rate and VUs.
	Segment  string `json:"segment"`
	Sequence string `json:"sequence"`
	// StartAt is when k6 leaves its paused state: every generator starts
	// k6 paused, lets it compile the script and make its VUs, and resumes
	// it at the same instant.
	StartAt time.Time         `json:"start_at"`
	Env     map[string]string `json:"env"` // CRMPLAN_TARGET, CRMPLAN_EMAIL, CRMPLAN_PASSWORD, CRMPLAN_RUN
	// Steady is the scenario whose requests the SLO judges; "" counts
	// every request (a script without one).
	Steady string `json:"steady"`
	// Samples asks for every request of the run in the report (a chaos
	// run's timeline and write ledger need them): about 60 bytes each.
	Samples bool `json:"samples,omitempty"`
	// CA is the PEM of the CA the target's HTTPS certificate chains to
	// (the stack's own), which k6 trusts; empty trusts the host's roots.
	CA string `json:"ca,omitempty"`
}

// LoadReport is what a generator measured: counts, mergeable histograms
// and its own CPU, never raw samples (a dozen JSON lines per request).
type LoadReport struct {
	Started  time.Time `json:"started"` // when k6 acknowledged the resume
	Ended    time.Time `json:"ended"`
	ExitCode int       `json:"exit_code"` // k6's: 99 when its own share crossed a threshold
	CPU      float64   `json:"cpu"`       // cores: k6's CPU seconds (start-up included) per second from Started to Ended
	// The steady phase (or every request when the script has none).
	Requests int64                 `json:"requests"`
	Failed   int64                 `json:"failed"`
	Latency  *latency.Histogram    `json:"latency"`
	ByClass  map[string]*ClassLoad `json:"by_class"`
	Errors   map[string]int64      `json:"errors_by_kind"`
	First    time.Time             `json:"first"` // the steady phase's first and last request
	Last     time.Time             `json:"last"`
	Dropped  int64                 `json:"dropped_iterations"` // the whole run's
	// Seconds are every request (ramp-up included) per second since
	// Started, for the run's time series.
	Seconds []LoadSecond `json:"seconds"`
	Samples []LoadSample `json:"samples,omitempty"` // when the spec asked
}

// LoadSample is one request, for a chaos run.
type LoadSample struct {
	AtUs     int64   `json:"t"` // Unix microseconds
	Ms       float64 `json:"ms"`
	Class    string  `json:"c,omitempty"`
	Method   string  `json:"m,omitempty"`
	Scenario string  `json:"s,omitempty"`
	Failed   bool    `json:"f,omitempty"`
	Kind     string  `json:"k,omitempty"` // ErrorKind when failed
	Ledger   string  `json:"l,omitempty"` // the ledger key a create carried
}

// ClassLoad is one request class's steady-phase share of a LoadReport.
type ClassLoad struct {
	Requests int64              `json:"requests"`
	Failed   int64              `json:"failed"`
	Latency  *latency.Histogram `json:"latency"`
}

// LoadSecond is one second of a generator's requests.
type LoadSecond struct {
	Requests int64              `json:"requests"`
	Failed   int64              `json:"failed"`
	Latency  *latency.Histogram `json:"latency"`
}

// ErrorKind names a failed request by what an operator would look for:
// the HTTP status class, or the network error behind k6's error code.
func ErrorKind(status, code string) string {
	st, _ := strconv.Atoi(status)
	switch {
	case st >= 500:
		return "http_5xx"
	case st >= 400:
		return "http_4xx"
	}
	c, _ := strconv.Atoi(code)
	switch {
	case c == 1050:
		return "timeout"
	case c == 1212:
		return "connection_refused"
	case c == 1220:
		return "connection_reset"
	case c == 1211:
		return "dial_timeout"
	case c >= 1100 && c < 1200:
		return "dns"
	case c >= 1200 && c < 1300:
		return "tcp"
	case c >= 1300 && c < 1400:
		return "tls"
	case c > 0:
		return "k6_" + code
	}
	return "other"
}
