package sizing

// Defaults. Every number the model assumes when the plan file is silent lives
// here, with the reason for it. They are starting points meant to be replaced
// by figures measured with `crmplan verify` (the k6 run reports the real
// per-class latencies and the CPU the tiers used).
//
// Workload
//
//	peak factor        1      the seeds give a steady design load (seed 000: 150 req/s);
//	                          set 1.5-3 for a marked peak hour
//	growth, years      0, 0   no growth unless the plan says so
//
// Request mix (DefaultMix) — shares of all requests
//
//	list        0.35  CRM users mostly browse: list views and searches
//	view        0.35  ... and open records with their related lists
//	write       0.15  about one interaction in seven saves something
//	report      0.05  dashboards and reports are rare but heavy
//	integration 0.10  ESB/API traffic from other systems (seed 000's Talend ESB)
//	marketing   0     campaigns, only where a plan has a marketing tier (below)
//
// SLO (DefaultSLO)
//
//	p95 500 ms    a common interactive target for web business applications
//	errors 1 %    what the load test may see before it fails
//
// Tiers (DefaultTier): demand in milliseconds of one core per request of a
// class; mix-weighted with DefaultMix in brackets.
//
//	role        list view write report integr. mkt. visit cores HA  min max
//	web          1.0  0.8  1.2   1.0    -      -     1     2    yes  -   -    [0.86]
//	proxy        0.3  0.3  0.3   0.3    -      -     1     2    yes  -   -    [0.27]
//	failover     0.2  0.2  0.2   0.2    -      -     1     2    yes  -   -    [0.18]
//	api         12    8   15    40     10      6     1     4    yes  -   -    [12.25]
//	db-primary   4    2    6    25      4      2     1     4    no   1   1    [4.65]
//	db-replica   -    -    2     -      -      -     1     4    no   1   -    [0.3]
//	cache        0.3  0.2  0.2   -      0.1    -     1     2    no   1   -    [0.22]
//	integration  -    -    -     -     30      -     1     4    no   1   -    [3.0]
//	queue        -    -    0.5   -      1      -     1     2    no   1   -    [0.175]
//	kv           -    -    -     -      0.2    -     1     2    no   1   -    [0.02]
//	marketing    -    -    -     -      -      3     1     2    no   1   -    [0]
//	marketing-db -    -    -     -      -      2     1     2    no   1   1    [0]
//	etl, scheduler, mail, admin, worker, docstore, vpn: no per-request
//	            demand (batch work, notifications, the operators' console,
//	            back-end jobs, document storage and remote users' tunnels
//	            off the request path); 4 cores (etl), 2 for the others,
//	            1 server (the console HA: 2).
//
// Seed 001's worker and docstore have no per-request demand because the
// seed puts no request through them: the worker runs "the critical backend
// processes (import, export, and scheduling, which uses quartz)" on its own
// schedule, and "requests that access and update, whether coming from a user
// or a backend process, go to the primary database", not through the job
// server; document storage "is managed separately from the database", which
// places the documents but gives no rate of document requests, and the
// bundled CRM's requests read and write no documents. Charging them per
// request had the model predict 125-154 % more worker CPU and 804 % more
// docstore CPU than seed 001's stack used at 4x (BENCHMARKS.md). Their CPU
// is measured as the tier's idle and background CPU instead; a plan whose
// CRM does serve documents on its requests gives docstore its demand_ms.
//	loadgen      1.03 1.03 1.03  1.03   1.03   1.03  1     2    no   1   -    [1.03]
//	             (k6's CPU per request it makes; off the request path)
//
// Why these: the web tier terminates TLS, serves the React bundle and
// balances load, about a millisecond per request. The app tier (seed 000's
// PHP application) spends 8-15 ms of CPU on an ordinary page and tens on a
// report. The database figures are CPU per request for indexed reads and a
// write with its indexes and WAL; reports aggregate. A streaming replica
// replays WAL for about a third of the primary's write cost. The numbers were
// chosen so the seed 000 reference load (150 req/s) yields the seed's own
// design: one app server's worth of load (46 % of 4 cores) plus one for N+1,
// i.e. two app servers behind the load balancer, and one primary with an
// asynchronous replica. The ESB's Java transformations cost ~30 ms per call.
// The integrators' key-value store (Redis) answers a grant read and a
// counter increment per integration call, tens of microseconds each: 0.2 ms
// is generous, and one server holds it.
// The marketing class (seed 000's marketing server) is in no default mix: a
// plan with a marketing tier gives it a share (examples/simplecrm.yaml: 2 %).
// Half its calls create a campaign, which checks the caller's token and
// reads the matching contacts at the api tier (a search page: about half a
// list's 12 ms there, 2 ms at the primary) and writes the recipients into
// the marketing database; half list a campaign's recipients, a token check
// and one indexed read. The marketing server only moves JSON between the
// two, 3 ms; its database's reads and batched inserts, 2 ms.
// Reports default to the primary; a topology that runs reports on the replica
// (seed 001) moves the report demand to the db-replica tier in its plan file.
//
// Target utilization 0.6: below ~70 % per core an M/M/c queue's waiting time
// stays a fraction of the service time, and 0.6 leaves room for the peak the
// peak factor does not capture. HA tiers get N+1 on top; a single writable
// primary cannot scale out (max 1) and is scaled up to at most MaxCores.
//
// Database (DatabaseSpec)
//
//	row bytes 1024        a CRM record (account, contact, activity) with tuple
//	                      header and TOASTed text, averaged
//	index overhead 0.5    several indexes per table (owner, dates, names)
//	working set 0.2       recent activities and open opportunities
//	RAM                   working set / 0.75 (so effective_cache_size holds it),
//	                      rounded up to a power of two, at least 4 GiB

const (
	defaultTargetUtilization = 0.6
	defaultCores             = 2
	defaultSLOP95Ms          = 500
	defaultSLOErrorRate      = 0.01
	defaultRowBytes          = 1024
	defaultIndexOverhead     = 0.5
	defaultWorkingSetShare   = 0.2

	// MaxCores is the largest server the model scales a capped tier up to.
	MaxCores = 128
)

// Reasons a tier has the server count it has (TierEstimate.Reason).
const (
	ReasonUtilization = "utilization" // the fewest servers keeping utilization at or below the target
	ReasonSLO         = "slo"         // more servers than utilization needs, for the tier's share of the p95 SLO
	ReasonMin         = "min"         // the tier's Min
	ReasonFixed       = "fixed"       // the plan fixed the count
	ReasonHA          = "ha"          // the load count plus one spare (N+1)
	ReasonScaleUp     = "scale-up"    // capped by MaxServers, so the model added cores instead
	ReasonMax         = "max"         // capped and at MaxCores: the tier cannot meet its target
)

// DefaultMix returns the default request mix (see the table above).
func DefaultMix() Mix {
	return Mix{
		ClassList:        0.35,
		ClassView:        0.35,
		ClassWrite:       0.15,
		ClassReport:      0.05,
		ClassIntegration: 0.10,
	}
}

// DefaultSLO returns the default service level: p95 500 ms, 1 % errors.
func DefaultSLO() SLO {
	return SLO{P95Ms: defaultSLOP95Ms, ErrorRate: defaultSLOErrorRate}
}

// DefaultDatabase returns the default storage assumptions.
func DefaultDatabase() DatabaseSpec {
	return DatabaseSpec{
		RowBytes:        defaultRowBytes,
		IndexOverhead:   defaultIndexOverhead,
		WorkingSetShare: defaultWorkingSetShare,
	}
}

// demand builds a per-class demand map in the canonical class order.
func demand(list, view, write, report, integration, marketing float64) map[Class]float64 {
	d := make(map[Class]float64, numClasses)
	for i, v := range []float64{list, view, write, report, integration, marketing} {
		if v > 0 {
			d[Classes()[i]] = v
		}
	}
	return d
}

// DefaultTier returns the default spec of a topology role and whether the
// role is known. The returned spec is a fresh copy the caller may change.
func DefaultTier(role string) (TierSpec, bool) {
	t := TierSpec{Role: role, Visit: 1, Cores: defaultCores, TargetUtilization: defaultTargetUtilization}
	switch role {
	case "web":
		t.Demand, t.HA = demand(1.0, 0.8, 1.2, 1.0, 0, 0), true
	case "proxy":
		t.Demand, t.HA = demand(0.3, 0.3, 0.3, 0.3, 0, 0), true
	case "failover":
		t.Demand, t.HA = demand(0.2, 0.2, 0.2, 0.2, 0, 0), true
	case "api":
		t.Demand, t.Cores, t.HA = demand(12, 8, 15, 40, 10, 6), 4, true
	case "worker", "docstore":
		t.Demand, t.Min = map[Class]float64{}, 1
	case "db-primary":
		t.Demand, t.Cores, t.Min, t.MaxServers = demand(4, 2, 6, 25, 4, 2), 4, 1, 1
	case "db-replica":
		t.Demand, t.Cores, t.Min = demand(0, 0, 2, 0, 0, 0), 4, 1
	case "cache":
		t.Demand, t.Min = demand(0.3, 0.2, 0.2, 0, 0.1, 0), 1
	case "integration":
		t.Demand, t.Cores, t.Min = demand(0, 0, 0, 0, 30, 0), 4, 1
	case "queue":
		t.Demand, t.Min = demand(0, 0, 0.5, 0, 1, 0), 1
	case "kv":
		t.Demand, t.Min = demand(0, 0, 0, 0, 0.2, 0), 1
	case "etl":
		t.Demand, t.Cores, t.Min = map[Class]float64{}, 4, 1
	case "scheduler", "mail", "vpn":
		t.Demand, t.Min = map[Class]float64{}, 1
	case "admin":
		// Seed 002: "n per cluster ... to secure each of them": a second
		// console when one is lost.
		t.Demand, t.Min, t.HA = map[Class]float64{}, 1, true
	case "marketing":
		// Seed 000 names one marketing server; a campaign is not worth a
		// second one standing by.
		t.Demand, t.Min = demand(0, 0, 0, 0, 0, 3), 1
	case "marketing-db":
		// Its own PostgreSQL: one writable server, like the CRM's primary.
		t.Demand, t.Min, t.MaxServers = demand(0, 0, 0, 0, 0, 2), 1, 1
	case "loadgen":
		g := generatorDemandMs
		t.Demand, t.Min = demand(g, g, g, g, g, g), 1
	default:
		return TierSpec{}, false
	}
	return t, true
}

// generatorDemandMs is what one request costs a load generator, in
// milliseconds of one core: k6 held 150 req/s on 0.155 cores
// (BenchmarkGeneratorCPU in loadgen, BENCHMARKS.md), 1.03 ms per request.
const generatorDemandMs = 1.03

// DefaultRoles lists the roles DefaultTier knows, in request-path order.
func DefaultRoles() []string {
	return []string{"proxy", "failover", "web", "api", "cache", "docstore", "worker", "queue",
		"integration", "kv", "marketing", "db-primary", "db-replica", "marketing-db", "etl", "scheduler", "mail", "admin", "vpn", "loadgen"}
}

// DefaultTiers returns seed 000's tiers: web (load balancer) in the DMZ, app
// servers, PostgreSQL primary and asynchronous replica, ESB and ETL servers.
func DefaultTiers() []TierSpec {
	return Model{Tiers: []TierSpec{}}.WithDefaults().Tiers
}

// defaultRoles are DefaultTiers' roles.
var defaultRoles = []string{"web", "api", "db-primary", "db-replica", "integration", "etl"}

// WithDefaults returns a copy of m with every zero value filled: the mix,
// peak factor 1, the SLO, the database assumptions, and per tier the visit
// share, cores, target utilization and demands.
//
// A tier without Demand stands for its role's defaults: its zero fields
// (including HA, Min and MaxServers) take DefaultTier's values. A tier with
// Demand is the plan's own: only Visit, Cores and TargetUtilization are
// filled, from the role's defaults when the role is known, else 1, 2 and
// 0.6. With no tiers at all, m gets DefaultTiers. A zero cannot be asked for
// where zero means "default" (index_overhead 0 becomes 0.5); use a small
// value instead.
func (m Model) WithDefaults() Model {
	w := &m.Workload
	if w.PeakFactor == 0 {
		w.PeakFactor = 1
	}
	if len(w.Mix) == 0 {
		w.Mix = DefaultMix()
	}
	if m.SLO.P95Ms == 0 {
		m.SLO.P95Ms = defaultSLOP95Ms
	}
	if m.SLO.ErrorRate == 0 {
		m.SLO.ErrorRate = defaultSLOErrorRate
	}
	d := DefaultDatabase()
	if m.Database.RowBytes == 0 {
		m.Database.RowBytes = d.RowBytes
	}
	if m.Database.IndexOverhead == 0 {
		m.Database.IndexOverhead = d.IndexOverhead
	}
	if m.Database.WorkingSetShare == 0 {
		m.Database.WorkingSetShare = d.WorkingSetShare
	}
	if len(m.Tiers) == 0 {
		m.Tiers = make([]TierSpec, 0, len(defaultRoles))
		for _, role := range defaultRoles {
			m.Tiers = append(m.Tiers, TierSpec{Role: role})
		}
	}
	tiers := make([]TierSpec, len(m.Tiers))
	hasPrimary, hasReplica := false, false
	for i, t := range m.Tiers {
		hasPrimary = hasPrimary || t.Role == "db-primary"
		hasReplica = hasReplica || t.Role == "db-replica"
		tiers[i] = tierWithDefaults(t)
	}
	if hasPrimary && hasReplica {
		// The CRM reads its lists, searches and reports from the replica
		// when there is one (app/store's reader), and the primary only
		// looks the session up for them; views, writes and imports stay
		// on the primary. The replica's replay of the writes' WAL is
		// asynchronous: its CPU is the replica's, but no write waits for
		// it, so it is on no class's path (and calibrate charges it to the
		// reads, a little above what they cost). A tier with demands of
		// its own keeps them, and the other still takes these: the
		// routing is the CRM's, whoever wrote the numbers.
		for i, t := range m.Tiers {
			switch {
			case t.Demand != nil:
			case t.Role == "db-primary":
				tiers[i].Demand = demand(1, 2, 6, 1, 3, 1)
			case t.Role == "db-replica":
				tiers[i].Demand = demand(3, 0, 0, 24, 1, 1)
			}
		}
	}
	m.Tiers = tiers
	return m
}

func tierWithDefaults(t TierSpec) TierSpec {
	def, known := DefaultTier(t.Role)
	if !known {
		def = TierSpec{Visit: 1, Cores: defaultCores, TargetUtilization: defaultTargetUtilization}
	}
	if t.Demand == nil && known {
		t.Demand = def.Demand
		t.HA = t.HA || def.HA
		if t.Min == 0 {
			t.Min = def.Min
		}
		if t.MaxServers == 0 {
			t.MaxServers = def.MaxServers
		}
	}
	if t.Visit == 0 {
		t.Visit = def.Visit
	}
	if t.Cores == 0 {
		t.Cores = def.Cores
	}
	if t.TargetUtilization == 0 {
		t.TargetUtilization = def.TargetUtilization
	}
	return t
}
