package sizing

// Class is a kind of request in the workload's mix. Each class has its own
// service demand at each tier.
type Class string

// The request classes the model, the load test and the report share.
const (
	ClassList        Class = "list"        // list and search pages
	ClassView        Class = "view"        // one record with its related records
	ClassWrite       Class = "write"       // create or update
	ClassReport      Class = "report"      // aggregate reads (dashboards, reports)
	ClassIntegration Class = "integration" // API calls from the ESB / ETL side
	ClassMarketing   Class = "marketing"   // campaigns at the marketing server (seed 000), which reads contacts from the api tier
)

// numClasses is len(Classes()).
const numClasses = 6

// Classes returns the request classes in their canonical order.
func Classes() []Class {
	return []Class{ClassList, ClassView, ClassWrite, ClassReport, ClassIntegration, ClassMarketing}
}

// Mix gives each class its share of all requests; shares sum to 1.
type Mix map[Class]float64

// Workload is what the business tells the architect.
type Workload struct {
	NamedUsers  int     `json:"named_users" yaml:"named_users"`
	Concurrency float64 `json:"concurrency" yaml:"concurrency"` // share of named users logged in at once, (0, 1]
	TPM         float64 `json:"tpm" yaml:"tpm"`                 // server requests per active session per minute
	Records     int64   `json:"records" yaml:"records"`         // CRM records in the database
	PeakFactor  float64 `json:"peak_factor" yaml:"peak_factor"` // peak-hour rate over the average; 1 when unset
	Growth      float64 `json:"growth" yaml:"growth"`           // yearly growth of named users and records, as a share
	Years       int     `json:"years" yaml:"years"`             // planning horizon for Growth
	Mix         Mix     `json:"mix,omitempty" yaml:"mix,omitempty"`
	// DelayMs is, per class, the mean time a request spends outside every
	// tier's CPU queue: round trips between the hosts and to the client,
	// waking a blocked thread, a commit's fsync. It does not grow with the
	// rate. The model adds it as a delay station (an infinite server,
	// exponential as in a product-form network, or of ServiceSCV's
	// shape) on the class's path, so
	// it adds to the response time and to nothing's utilization.
	// crmplan calibrate measures it; absent, 0.
	DelayMs map[Class]float64 `json:"delay_ms,omitempty" yaml:"delay_ms,omitempty"`
	// ServiceSCV is the squared coefficient of variation (variance over
	// mean squared) of a request's service time at every tier and of the
	// classes' delays, in (0, 1]: the shape of the time, not its mean.
	// 1, or absent (0), is exponential, the model as it always was; below
	// it the model takes an Erlang time of round(1/ServiceSCV) stages, a
	// shorter tail at the same mean (a request's CPU time on a quiet
	// machine varies far less than an exponential's). It changes the
	// predicted percentiles of a path, never a mean, a utilization or a
	// server count's throughput. crmplan calibrate fits it to a run's p95.
	ServiceSCV float64 `json:"service_scv,omitempty" yaml:"service_scv,omitempty"`
}

// SLO is the service level the design must meet at the design rate.
type SLO struct {
	P95Ms     float64 `json:"p95_ms" yaml:"p95_ms"`         // end-to-end 95th percentile response time
	ErrorRate float64 `json:"error_rate" yaml:"error_rate"` // share of failed requests the load test may see
	// Classes are objectives of their own for some request classes (a
	// report may take 1 s where a list page must take 500 ms): verify
	// judges each class against its own, or the overall p95 without one.
	// The overall p95 still holds over all requests. Size sizes for the
	// overall p95 only.
	Classes map[Class]ClassSLO `json:"classes,omitempty" yaml:"classes,omitempty"`
}

// ClassSLO is one request class's objective.
type ClassSLO struct {
	P95Ms float64 `json:"p95_ms" yaml:"p95_ms"`
}

// IsZero reports whether s sets nothing.
func (s SLO) IsZero() bool { return s.P95Ms == 0 && s.ErrorRate == 0 && len(s.Classes) == 0 }

// ClassP95Ms returns class c's p95 objective and whether it has one of its
// own; without, the overall p95.
func (s SLO) ClassP95Ms(c Class) (float64, bool) {
	if o, ok := s.Classes[c]; ok {
		return o.P95Ms, true
	}
	return s.P95Ms, false
}

// TierSpec describes one tier to size. Role is a topology role name
// ("web", "api", "db-primary", ...); the model treats it as an opaque key
// except for looking up default demands.
type TierSpec struct {
	Role string `json:"role" yaml:"role"`
	// Demand is the service demand in milliseconds of one core per request of
	// each class at this tier. A class missing from the map costs nothing here.
	Demand map[Class]float64 `json:"demand_ms,omitempty" yaml:"demand_ms,omitempty"`
	// Visit is the share of all requests that reach this tier (1 for every
	// tier on the request path; less for a cache hit path or a replica that
	// takes only reads). Zero means 1.
	Visit float64 `json:"visit,omitempty" yaml:"visit,omitempty"`
	Cores int     `json:"cores,omitempty" yaml:"cores,omitempty"` // per server; 2 when unset
	// Servers fixes the server count when above zero; otherwise the model
	// chooses the smallest count meeting TargetUtilization and the SLO.
	Servers           int     `json:"servers,omitempty" yaml:"servers,omitempty"`
	Min               int     `json:"min,omitempty" yaml:"min,omitempty"`                               // at least this many servers
	HA                bool    `json:"ha,omitempty" yaml:"ha,omitempty"`                                 // N+1: one server more than the load needs
	TargetUtilization float64 `json:"target_utilization,omitempty" yaml:"target_utilization,omitempty"` // 0.6 when unset
	// MaxServers caps the count for a tier that cannot scale out (a single
	// writable PostgreSQL primary is 1). When the load needs more, the model
	// scales up instead: it doubles Cores, up to MaxCores. 0 means no cap.
	MaxServers int `json:"max_servers,omitempty" yaml:"max_servers,omitempty"`
}

// DatabaseSpec holds the storage assumptions behind the database estimate.
type DatabaseSpec struct {
	RowBytes        int     `json:"row_bytes,omitempty" yaml:"row_bytes,omitempty"`                 // average bytes per record on disk
	IndexOverhead   float64 `json:"index_overhead,omitempty" yaml:"index_overhead,omitempty"`       // index size as a share of table size
	WorkingSetShare float64 `json:"working_set_share,omitempty" yaml:"working_set_share,omitempty"` // share of data touched in a day
	MemoryBytes     int64   `json:"memory_bytes,omitempty" yaml:"memory_bytes,omitempty"`           // RAM of a database server; 0 = sized from the working set
}

// Model is everything Size needs.
type Model struct {
	Workload Workload     `json:"workload" yaml:"workload"`
	SLO      SLO          `json:"slo" yaml:"slo"`
	Tiers    []TierSpec   `json:"tiers" yaml:"tiers"`
	Database DatabaseSpec `json:"database" yaml:"database"`
}

// WorkloadEstimate is the workload as derived numbers.
type WorkloadEstimate struct {
	NamedUsers        int     `json:"named_users"`
	ConcurrentUsers   float64 `json:"concurrent_users"`
	RequestsPerSecond float64 `json:"requests_per_second"` // N*c*t/60, before peak and growth
	DesignRate        float64 `json:"design_rate"`         // requests/s the tiers are sized for: peak and growth applied
	Records           int64   `json:"records"`
	DesignRecords     int64   `json:"design_records"` // records at the end of the horizon
}

// TierEstimate is the model's answer for one tier at the design rate.
type TierEstimate struct {
	Role            string  `json:"role"`
	Servers         int     `json:"servers"`
	Cores           int     `json:"cores"`
	ArrivalRate     float64 `json:"arrival_rate"`      // requests/s reaching the tier
	ServiceDemandMs float64 `json:"service_demand_ms"` // mix-weighted demand per request at this tier
	Utilization     float64 `json:"utilization"`       // per core, U = lambda*D/(servers*cores)
	PredictedMeanMs float64 `json:"predicted_mean_ms"` // M/M/c response time (wait + service)
	PredictedP95Ms  float64 `json:"predicted_p95_ms"`
	// SaturationRate is the arrival rate at which this tier, with Servers
	// servers, reaches 100 % utilization; SaturationNamedUsers is the same
	// point expressed in named users at the workload's concurrency, TPM and
	// peak factor (growth not applied: it is a head count, not a year). Both
	// are 0 for a tier without per-request demand, which never saturates.
	SaturationRate       float64 `json:"saturation_rate"`
	SaturationNamedUsers int     `json:"saturation_named_users"`
	Reason               string  `json:"reason"` // why this many servers: "utilization", "slo", "min", "fixed", "ha", "scale-up", "max"
	// Detail says the same as Reason in a sentence, with the numbers.
	Detail string `json:"detail"`
	// Overloaded is true when the tier's utilization is 1 or more (only
	// possible with a fixed count or a capped one): its queue grows without
	// bound and the predicted latencies are left at 0.
	Overloaded bool `json:"overloaded,omitempty"`
}

// PGSettings are PostgreSQL settings in the spirit of PGTune.
type PGSettings struct {
	SharedBuffers      string `json:"shared_buffers" yaml:"shared_buffers"`
	EffectiveCacheSize string `json:"effective_cache_size" yaml:"effective_cache_size"`
	WorkMem            string `json:"work_mem" yaml:"work_mem"`
	MaintenanceWorkMem string `json:"maintenance_work_mem" yaml:"maintenance_work_mem"`
	MaxConnections     int    `json:"max_connections" yaml:"max_connections"`
}

// DatabaseEstimate is the storage, memory and connection side of the design.
type DatabaseEstimate struct {
	StorageBytes     int64 `json:"storage_bytes"` // at the end of the horizon, indexes included
	WorkingSetBytes  int64 `json:"working_set_bytes"`
	MemoryBytes      int64 `json:"memory_bytes"`        // RAM recommended per database server
	PoolPerAppServer int   `json:"pool_per_app_server"` // connections each api server's pool keeps: Pool("api")
	// Pools are the db-client tiers' connections to the primary (and to
	// each replica), in the order the tiers come.
	Pools    []TierPool `json:"pools"`
	Settings PGSettings `json:"settings"`
}

// TierPool is one db-client tier's (api, worker, etl) share of
// max_connections.
type TierPool struct {
	Role    string `json:"role"`
	Servers int    `json:"servers"`
	// Total is what the tier's servers may hold together, whatever their
	// count up to ScalesTo: max_connections counts it.
	Total int `json:"total"`
	// PerServer is each server's pool: Total over Servers, rounded down,
	// at least 2.
	PerServer int `json:"per_server"`
	// ScalesTo is the most servers the tier may have with Total (and so
	// max_connections) unchanged. Beyond it each server's pool is 2 and
	// Total grows with the servers: PostgreSQL takes a higher
	// max_connections only by a restart.
	ScalesTo int `json:"scales_to"`
}

// Pool is the pool of each server of role's tier; 0 when role keeps no
// pool (it does not connect to the database, or the plan has no such tier).
func (d DatabaseEstimate) Pool(role string) int {
	for _, tp := range d.Pools {
		if tp.Role == role {
			return tp.PerServer
		}
	}
	return 0
}

// Latency is an end-to-end prediction across the tiers on the path.
type Latency struct {
	MeanMs float64 `json:"mean_ms"`
	// P95Ms is the 95th percentile of the whole path's response time over
	// all requests: the quantile of the mixture of the classes' end-to-end
	// distributions, each the convolution of its tiers' response times (see
	// endToEnd), not a sum of per-tier percentiles.
	P95Ms float64 `json:"p95_ms"`
	// ByClass is the same per request class; Size fills it, sweeps leave
	// it empty.
	ByClass map[Class]ClassLatency `json:"by_class,omitempty"`
	// Unbounded is true when a tier on the path is overloaded; the
	// figures then cover only the other tiers.
	Unbounded bool `json:"unbounded,omitempty"`
}

// ClassLatency is one request class's end-to-end prediction.
type ClassLatency struct {
	MeanMs float64 `json:"mean_ms"`
	P95Ms  float64 `json:"p95_ms"`
}

// Queueing model names, in Answer.Name.
const (
	ModelOpen      = "open-mmc"              // each tier an M/M/c queue fed by Poisson arrivals
	ModelExactMVA  = "closed-mva-exact"      // exact multi-class MVA, load-dependent stations
	ModelApproxMVA = "closed-mva-schweitzer" // Bard-Schweitzer approximate MVA, Seidmann multi-server
	ModelHere      = "here-shared-cores"     // PredictHere: every host and the generator on one machine's cores
)

// Answer says which queueing model produced an estimate's utilizations and
// latencies, and why that one.
type Answer struct {
	Name string `json:"name"`
	Why  string `json:"why"`
	// Population and ThinkTimeS describe the closed model's users: the
	// concurrent users at the design load and the time each waits between
	// a response and its next request. 0 for the open model.
	Population float64 `json:"population,omitempty"`
	ThinkTimeS float64 `json:"think_time_s,omitempty"`
	// Throughput is the request rate of the solution: the design rate for
	// the open model, N/(Z+R) for the closed one (slightly below N/Z, as
	// users wait for their responses too).
	Throughput float64 `json:"throughput"`
	// Iterations of Bard-Schweitzer to converge; 0 otherwise.
	Iterations int `json:"iterations,omitempty"`
	// ServiceStages is the Erlang stage count the end-to-end percentiles
	// took for every service time and delay (Stages of ServiceSCV, the
	// plan's workload.service_scv, also given here), when it is more than
	// one; both are 0, and left out, for exponential times.
	ServiceStages int     `json:"service_stages,omitempty"`
	ServiceSCV    float64 `json:"service_scv,omitempty"`
}

// Estimate is the result of Size.
type Estimate struct {
	Workload WorkloadEstimate `json:"workload"`
	Tiers    []TierEstimate   `json:"tiers"`
	// Model names the queueing model behind Tiers' utilizations and
	// latencies and EndToEnd. Server counts are always chosen with the open
	// M/M/c model (cheap, and monotone in the load); the prediction at the
	// chosen counts is the closed model's when the workload is a closed
	// population that reaches its design rate.
	Model    Answer  `json:"model"`
	EndToEnd Latency `json:"end_to_end"`
	// Failover is the end-to-end latency with one server of every HA tier
	// down at once; the SLO is judged on it, because N+1 promises the SLO
	// with a server lost.
	Failover Latency          `json:"failover"`
	Database DatabaseEstimate `json:"database"`
	// MeetsSLO is false when no server count within the model's limits meets
	// the SLO; Estimate is still filled with the best the model found.
	MeetsSLO bool `json:"meets_slo"`
	// SLOMiss says why MeetsSLO is false, in a sentence; empty when it is
	// true. Sweeps leave it empty.
	SLOMiss string `json:"slo_miss,omitempty"`
}
