// Package reports turns what crmplan knows about a stack (the plan, the sizing
// estimate, the deployed inventory and the latest load test) into the capacity
// report stakeholders read.
//
// Build makes one plain Report value from the inputs; the renderers (HTML,
// Markdown, JSON) only format it, so the three files always tell the same
// numbers. A section whose input is missing carries a Missing sentence that
// says so and what to run, instead of being left out silently.
package reports

import (
	"time"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// Inputs is everything a report is built from. Only Plan is required; every
// other field may be nil or empty, and the section that needs it then says
// that its input is missing.
type Inputs struct {
	Plan topology.Plan
	// PlanPath is the plan file's path as the user gave it; the report's
	// hints name it instead of PLAN.yaml when it is set.
	PlanPath string
	Estimate *sizing.Estimate // sizing.Size of the plan's model
	// AtTestRate is the same servers predicted at the load test's rate, so
	// that predicted and measured compare at one load; nil without a test.
	AtTestRate *sizing.Estimate
	Sweep      []sizing.SweepPoint // sizing.Sweep along named users
	Projection []sizing.YearPoint  // sizing.Project over the plan's horizon
	// DiagramSVG is topology.DiagramSVG's markup of the plan's topology.
	DiagramSVG string
	Topology   *topology.Topology
	Inventory  *stackdir.Inventory    // nil when the stack is not deployed
	Result     *loadgen.Result        // nil when no verify run exists
	FindMax    *loadgen.FindMaxResult // nil when verify --find-max never ran
	Probe      *stackdir.ProbeResult  // nil when the stack was never probed
	// GeneratedAt stamps the report; tests pass a fixed time.
	GeneratedAt time.Time
}

// Report is the capacity report as data. JSON field names are the report's
// public contract (report.json is read by CI jobs).
type Report struct {
	Title       string     `json:"title"`
	Plan        string     `json:"plan"`
	GeneratedAt time.Time  `json:"generated_at"`
	Deployed    string     `json:"deployed,omitempty"` // "local target, 7 hosts, app 1a2b3c" when an inventory exists
	SLO         sizing.SLO `json:"slo"`

	Summary  Summary         `json:"summary"`
	Workload WorkloadSection `json:"workload"`
	Topology TopologySection `json:"topology"`
	Tiers    TiersSection    `json:"tiers"`
	Measured MeasuredSection `json:"measured"`
	Timeline TimelineSection `json:"timeline"`
	// Availability is what the faults of verify --chaos cost.
	Availability AvailabilitySection `json:"availability"`
	// Network is crmplan probe's matrix: the links planned vs measured.
	Network     NetworkSection  `json:"network"`
	WhatIf      WhatIfSection   `json:"what_if"`
	Growth      GrowthSection   `json:"growth"`
	Database    DatabaseSection `json:"database"`
	Cost        CostSection     `json:"cost"`
	Assumptions []string        `json:"assumptions"`
	Risks       []Risk          `json:"risks"`
}

// Summary is the executive summary: one verdict, one paragraph, three numbers.
type Summary struct {
	// Verdict is "carries", "at-risk" or "does-not-carry" the target load,
	// or "unknown" when the plan could not be sized.
	Verdict   string     `json:"verdict"`
	Paragraph string     `json:"paragraph"`
	Headlines []Headline `json:"headlines"`
	// TargetRate is the design rate in requests/s; HeadroomPct is how much
	// more load the bottleneck tier takes before saturating, in percent.
	TargetRate   float64 `json:"target_rate"`
	HeadroomPct  float64 `json:"headroom_pct"`
	Bottleneck   string  `json:"bottleneck,omitempty"`
	MonthlyCost  float64 `json:"monthly_cost"`
	Currency     string  `json:"currency"`
	MeasuredPass *bool   `json:"measured_pass,omitempty"` // nil without a load test
}

// Headline is one of the summary's three numbers.
type Headline struct {
	Label string `json:"label"`
	Value string `json:"value"`
	Note  string `json:"note"`
}

// Row is one line of a derivation table: a label, a value and how it came about.
type Row struct {
	Label string `json:"label"`
	Value string `json:"value"`
	How   string `json:"how,omitempty"`
}

// WorkloadSection is seed 000's capacity table: named users down to requests/s.
type WorkloadSection struct {
	Missing           string  `json:"missing,omitempty"`
	Rows              []Row   `json:"rows"`
	NamedUsers        int     `json:"named_users"`
	ConcurrentUsers   float64 `json:"concurrent_users"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	DesignRate        float64 `json:"design_rate"`
}

// TopologySection is the diagram and a count of hosts per zone.
type TopologySection struct {
	Missing string     `json:"missing,omitempty"`
	SVG     string     `json:"-"` // rendered inline in HTML only
	Zones   []ZoneHost `json:"zones"`
	Links   []string   `json:"links"` // "web -> api :8080"
}

// ZoneHost lists the hosts of one zone.
type ZoneHost struct {
	Zone  string   `json:"zone"`
	Kind  string   `json:"kind"`
	Hosts []string `json:"hosts"`
}

// TiersSection is the per-tier sizing at the target load.
type TiersSection struct {
	Missing string `json:"missing,omitempty"`
	Tiers   []Tier `json:"tiers"`
	// P95Ms is the predicted end-to-end p95 at the design rate; FailoverP95Ms
	// the same with one server of every HA tier down. Unbounded says a tier
	// is overloaded, so no latency can be predicted.
	P95Ms         float64 `json:"p95_ms"`
	FailoverP95Ms float64 `json:"failover_p95_ms"`
	Unbounded     bool    `json:"unbounded,omitempty"`
	SLOMiss       string  `json:"slo_miss,omitempty"`
}

// Tier is one tier's servers, load and limits.
type Tier struct {
	Role                 string  `json:"role"`
	Zone                 string  `json:"zone,omitempty"`
	Instance             string  `json:"instance,omitempty"`
	Servers              int     `json:"servers"`
	Cores                int     `json:"cores"`
	ArrivalRate          float64 `json:"arrival_rate"`
	Utilization          float64 `json:"utilization"`
	PredictedP95Ms       float64 `json:"predicted_p95_ms"`
	SaturationRate       float64 `json:"saturation_rate"`
	SaturationNamedUsers int     `json:"saturation_named_users"`
	Reason               string  `json:"reason"`
	Detail               string  `json:"detail,omitempty"` // the reason in a sentence, from the model
	Overloaded           bool    `json:"overloaded,omitempty"`
	// TestUtilization is the model's utilization at the load test's rate,
	// the figure MeasuredUtilization is compared with.
	TestUtilization     *float64 `json:"test_utilization,omitempty"`
	MeasuredUtilization *float64 `json:"measured_utilization,omitempty"`
	MeasuredMeanMs      *float64 `json:"measured_mean_ms,omitempty"`
	PredictedMeanMs     float64  `json:"predicted_mean_ms"`
}

// MeasuredSection compares the model with the latest load test.
type MeasuredSection struct {
	Missing         string   `json:"missing,omitempty"`
	StartedAt       string   `json:"started_at,omitempty"`
	DurationS       float64  `json:"duration_s,omitempty"`
	TargetRate      float64  `json:"target_rate,omitempty"`
	AchievedRate    float64  `json:"achieved_rate,omitempty"`
	Requests        int64    `json:"requests,omitempty"`
	ErrorRate       float64  `json:"error_rate"`
	PredictedAt     float64  `json:"predicted_at"` // the rate of the prediction; 0 when the model cannot predict
	PredictedP95Ms  float64  `json:"predicted_p95_ms"`
	MeasuredP95Ms   float64  `json:"measured_p95_ms"`
	PredictedMeanMs float64  `json:"predicted_mean_ms"`
	MeasuredMeanMs  float64  `json:"measured_mean_ms"`
	SLOP95Ms        float64  `json:"slo_p95_ms"`
	Passed          bool     `json:"passed"`
	Violations      []string `json:"violations,omitempty"`
	Classes         []Class  `json:"classes,omitempty"`
	// SeededRecords is what the measured stack's database held (apply
	// --records) and PlanRecords the plan's workload.records: a test on
	// fewer records than the plan says is not the plan's database.
	SeededRecords int64 `json:"seeded_records,omitempty"`
	PlanRecords   int64 `json:"plan_records,omitempty"`
	// Generators is each load generator's share when several drove the
	// test; StartSkewMs how far apart they started.
	Generators  []loadgen.GeneratorResult `json:"generators,omitempty"`
	StartSkewMs float64                   `json:"start_skew_ms,omitempty"`
	// Here is the model on the hardware the stack ran on (verify's
	// "predicted here"), at the rate the test achieved: the prediction the
	// measurement can be held to when the plan's servers are not what ran.
	Here *HerePrediction `json:"here,omitempty"`
	// Capacity compares the highest rate verify --find-max held with the
	// model's saturation and the USL fitted to its steps.
	Capacity *Capacity `json:"capacity,omitempty"`
}

// HerePrediction is the model where the stack ran.
type HerePrediction struct {
	Model  string  `json:"model"`
	Why    string  `json:"why"`
	Rate   float64 `json:"rate"`
	MeanMs float64 `json:"mean_ms"`
	P95Ms  float64 `json:"p95_ms"`
}

// Capacity is the measured maximum beside the predicted ones.
type Capacity struct {
	MeasuredMax             float64     `json:"measured_max"`
	PredictedSaturation     float64     `json:"predicted_saturation"`                // on the plan's servers
	PredictedSaturationHere float64     `json:"predicted_saturation_here,omitempty"` // where the stack ran
	USL                     *sizing.USL `json:"usl,omitempty"`
	// USLText is the fit in a sentence (sizing.USL.String).
	USLText string `json:"usl_text,omitempty"`
}

// Class is the measured latency of one request class.
type Class struct {
	Name     string  `json:"name"`
	Requests int64   `json:"requests"`
	Failed   int64   `json:"failed"`
	P50Ms    float64 `json:"p50_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	// HereMeanMs and HereP95Ms are the class's prediction where the stack
	// ran (MeasuredSection.Here); 0 without one.
	HereMeanMs float64 `json:"here_mean_ms,omitempty"`
	HereP95Ms  float64 `json:"here_p95_ms,omitempty"`
	// SLOP95Ms is the class's p95 objective (its own from slo.classes, or
	// the overall one) and SLOPassed whether it held; nil for a result from
	// before verify judged classes.
	SLOP95Ms  float64 `json:"slo_p95_ms,omitempty"`
	SLOPassed *bool   `json:"slo_passed,omitempty"`
}

// SLOMissed reports whether the class was judged and broke its objective.
func (c Class) SLOMissed() bool { return c.SLOPassed != nil && !*c.SLOPassed }

// TimelineSection is throughput and latency over the load test's time.
type TimelineSection struct {
	Missing    string                `json:"missing,omitempty"`
	Points     []loadgen.SeriesPoint `json:"points"`
	TargetRate float64               `json:"target_rate"`
	SLOP95Ms   float64               `json:"slo_p95_ms"`
	MinRate    float64               `json:"min_rate"` // lowest rate of the full intervals (not the first and last)
	MaxP95Ms   float64               `json:"max_p95_ms"`
}

// WhatIfSection is servers and p95 as named users vary.
type WhatIfSection struct {
	Missing string        `json:"missing,omitempty"`
	Roles   []string      `json:"roles"`
	Points  []WhatIfPoint `json:"points"`
	// LastMeetingSLO is the most named users in the sweep that still meet
	// the SLO (with the servers the model adds); 0 when none does.
	LastMeetingSLO int `json:"last_meeting_slo"`
}

// WhatIfPoint is one scenario of the sweep.
type WhatIfPoint struct {
	NamedUsers        int            `json:"named_users"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	Servers           map[string]int `json:"servers"`
	TotalServers      int            `json:"total_servers"`
	P95Ms             float64        `json:"p95_ms"`
	MeetsSLO          bool           `json:"meets_slo"`
}

// GrowthSection is the projection over the plan's horizon.
type GrowthSection struct {
	Missing string       `json:"missing,omitempty"`
	Growth  float64      `json:"growth"`
	Years   []GrowthYear `json:"years"`
	Next    []NextServer `json:"next_servers"`
	Roles   []string     `json:"roles"`
}

// GrowthYear is one year of the projection.
type GrowthYear struct {
	Year              int            `json:"year"`
	NamedUsers        int            `json:"named_users"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	Servers           map[string]int `json:"servers"`
	TotalServers      int            `json:"total_servers"`
}

// NextServer says when a tier first needs more servers than it has today.
type NextServer struct {
	Role       string `json:"role"`
	Year       int    `json:"year"`
	NamedUsers int    `json:"named_users"`
	From       int    `json:"from"`
	To         int    `json:"to"`
}

// DatabaseSection is storage, memory and PostgreSQL settings.
type DatabaseSection struct {
	Missing          string            `json:"missing,omitempty"`
	Records          int64             `json:"records"`
	DesignRecords    int64             `json:"design_records"`
	SeededRecords    int64             `json:"seeded_records,omitempty"`
	StorageBytes     int64             `json:"storage_bytes"`
	WorkingSetBytes  int64             `json:"working_set_bytes"`
	MemoryBytes      int64             `json:"memory_bytes"`
	PoolPerAppServer int               `json:"pool_per_app_server"`
	Replication      string            `json:"replication"`
	Replicas         int               `json:"replicas"`
	Settings         sizing.PGSettings `json:"settings"`
	// Pools are the db-client tiers' connections: each tier's total and
	// its servers' shares, and how far it scales without PostgreSQL
	// restarting (sizing.TierPool).
	Pools []sizing.TierPool `json:"pools,omitempty"`
}

// CostSection is the monthly cost of the design.
type CostSection struct {
	Missing  string     `json:"missing,omitempty"`
	Currency string     `json:"currency"`
	AsOf     string     `json:"as_of"`
	Source   string     `json:"source"` // "plan" or the default table's description
	Lines    []CostLine `json:"lines"`
	Total    float64    `json:"total"`
	Unpriced []string   `json:"unpriced,omitempty"` // roles whose instance type has no price
}

// CostLine is one tier's cost.
type CostLine struct {
	Role     string  `json:"role"`
	Instance string  `json:"instance"`
	Servers  int     `json:"servers"`
	Unit     float64 `json:"unit"`
	Monthly  float64 `json:"monthly"`
}

// Risk is one thing that can go wrong, how bad it is, and what to do.
type Risk struct {
	Level  string `json:"level"` // "high", "medium", "low"
	Risk   string `json:"risk"`
	Action string `json:"action"`
}
