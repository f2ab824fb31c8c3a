// Package loadgen drives load against a deployed CRM with k6: it generates the
// k6 script from the workload model, runs k6 (embedded in the crmplan binary)
// in a child process, scrapes the hosts' /metrics during the run and turns
// k6's summary into a Result.
package loadgen

import (
	"sort"
	"time"
)

// Result is one verify run, as written to <state-dir>/<stack>/results/*.json
// and read by the report and by calibrate.
type Result struct {
	Stack        string    `json:"stack"`
	StartedAt    time.Time `json:"started_at"`
	DurationS    float64   `json:"duration_s"`
	TargetRate   float64   `json:"target_rate"`   // requests/s asked of k6
	AchievedRate float64   `json:"achieved_rate"` // requests/s k6 completed
	Dropped      int64     `json:"dropped_iterations"`
	Requests     int64     `json:"requests"`
	Failed       int64     `json:"failed"`
	ErrorRate    float64   `json:"error_rate"`
	// Latency over all requests and per request class (sizing.Class names).
	Latency Percentiles            `json:"latency"`
	ByClass map[string]ClassResult `json:"by_class"`
	Errors  map[string]int64       `json:"errors_by_kind"` // "http_5xx", "timeout", "connection_refused", ...
	// Tiers is the server-side view scraped from every host's /metrics.
	Tiers []TierMeasurement `json:"tiers"`
	// Series is throughput and latency over the run, one point per interval,
	// counted from SeriesStart: the run's first request, which comes after
	// StartedAt by verify's idle and background windows and k6's start.
	Series      []SeriesPoint `json:"series"`
	SeriesStart time.Time     `json:"series_start,omitzero"`
	SLO         SLOResult     `json:"slo"`
	// GeneratorCPU is the CPU the k6 process itself used, in cores (CPU
	// seconds per second of its run), so a reader can tell whether the load
	// generator, not the target, was the bottleneck.
	GeneratorCPU float64 `json:"generator_cpu"`
	// Generators is each load generator's share when several drove the
	// run (verify --generators), StartSkewMs how far apart they started.
	Generators  []GeneratorResult `json:"generators,omitempty"`
	StartSkewMs float64           `json:"start_skew_ms,omitempty"`
	// ScrapeErrors holds, per host, the last error reading its /metrics; a
	// host listed here may be missing from Tiers.
	ScrapeErrors map[string]string `json:"scrape_errors,omitempty"`
	// Predicted is the model at AchievedRate on the hardware the stack runs
	// on ("predicted here": on the local target every host and k6 share
	// this machine's cores), PredictedProduction the same rate on the
	// plan's servers. Set when verify knows the plan and its target.
	Predicted           *Prediction `json:"predicted,omitempty"`
	PredictedProduction *Prediction `json:"predicted_production,omitempty"`
	// Background is the work the stack did beside the requests (the ETL
	// tier's migration jobs), with the CPU each class used alone by role;
	// BackgroundError says why a class the stack has did not run.
	Background      []BackgroundClass `json:"background,omitempty"`
	BackgroundError string            `json:"background_error,omitempty"`
	// Machine is the CPU of the whole machine when the stack and the
	// generator share it (the local target): how much of it other
	// processes took, which the prediction here leaves out of the cores
	// the stack had.
	Machine *MachineCPU `json:"machine,omitempty"`
	// Availability is set by a chaos run (verify --chaos): the faults
	// injected, what each cost, and the write ledger's verdict.
	Availability *Availability `json:"availability,omitempty"`
}

// MachineCPU is the shared machine's CPU during a run, in cores (CPU
// seconds per second): every process's, and what of it was neither the
// stack's measured hosts' nor the generator's.
type MachineCPU struct {
	Cores int     `json:"cores"`
	Busy  float64 `json:"busy"` // over the steady phase, every process
	// Other is Busy less the tiers' CPU and the generator's: other
	// people's builds and tests, and the stack's own unmeasured helpers
	// (Receptor nodes, supervisors, this verify), 0 or more.
	Other float64 `json:"other"`
	// IdleBusy and IdleOther are the same over the idle window before the
	// load (Options.IdleWindow), the generator not running yet.
	IdleBusy  float64 `json:"idle_busy,omitempty"`
	IdleOther float64 `json:"idle_other,omitempty"`
}

// Free is the cores the stack and the generator had of m's: those the
// other processes left.
func (m MachineCPU) Free() float64 { return max(0, float64(m.Cores)-m.Other) }

// settleMachine fills Machine.Other once the generator's CPU is known.
func (r *Result) settleMachine() {
	if r.Machine == nil {
		return
	}
	stack := r.GeneratorCPU
	for _, t := range r.Tiers {
		stack += t.CPU
	}
	r.Machine.Other = max(0, r.Machine.Busy-stack)
}

// Percentiles of response time in milliseconds.
type Percentiles struct {
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// ClassResult is the measurement for one request class.
type ClassResult struct {
	Requests int64       `json:"requests"`
	Failed   int64       `json:"failed"`
	Latency  Percentiles `json:"latency"`
}

// TierMeasurement is what a tier's hosts reported during the run.
type TierMeasurement struct {
	Role        string  `json:"role"`
	Hosts       int     `json:"hosts"`
	Throughput  float64 `json:"throughput"`  // requests/s the tier served
	Utilization float64 `json:"utilization"` // CPU seconds per second per core, averaged over hosts
	MeanMs      float64 `json:"mean_ms"`     // server-side mean service time
	// CPU is the tier's CPU seconds per second, summed over its measured
	// hosts: what calibrate divides by the throughput (D = U/X).
	CPU float64 `json:"cpu"`
	// IdleCPU is the tier's CPU seconds per second before the load began
	// (Options.IdleWindow), summed over its hosts: health checks, metrics
	// scrapes, a replica's WAL receiver. Calibrate takes it out of CPU
	// before dividing, since it does not grow with the rate.
	IdleCPU float64 `json:"idle_cpu,omitempty"`
	// BackgroundCPU is the tier's CPU seconds per second above IdleCPU
	// while the background class (Result.Background) ran alone before the
	// load: calibrate leaves it out too, since it is not the requests'.
	BackgroundCPU float64 `json:"background_cpu,omitempty"`
	Measured      int     `json:"measured_hosts"` // hosts whose /metrics answered
}

// SeriesPoint is one interval of the run.
type SeriesPoint struct {
	AtS    float64 `json:"at_s"` // end of the interval, in seconds since Result.SeriesStart
	Rate   float64 `json:"rate"` // completed requests/s
	P95Ms  float64 `json:"p95_ms"`
	Errors int64   `json:"errors"`
}

// SLOResult says whether the thresholds held.
type SLOResult struct {
	P95Ms      float64  `json:"p95_ms"`     // threshold
	ErrorRate  float64  `json:"error_rate"` // threshold
	Passed     bool     `json:"passed"`
	Violations []string `json:"violations,omitempty"`
	// Classes is the verdict per request class the run sent: each is
	// judged against its own objective (the plan's slo.classes) or the
	// overall p95.
	Classes map[string]ClassVerdict `json:"classes,omitempty"`
}

// ClassVerdict is one request class's p95 against its objective.
type ClassVerdict struct {
	P95Ms         float64 `json:"p95_ms"`          // the objective
	Own           bool    `json:"own,omitempty"`   // from slo.classes, not the overall p95
	MeasuredP95Ms float64 `json:"measured_p95_ms"` // the steady phase's
	Requests      int64   `json:"requests"`
	Passed        bool    `json:"passed"`
}

// FailedClasses lists the classes whose p95 broke their objective, sorted.
func (s SLOResult) FailedClasses() []string {
	var out []string
	for c, v := range s.Classes {
		if !v.Passed {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}
