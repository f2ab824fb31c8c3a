package sizing

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

// seed000 is the reference workload of seed 000 (SimpleCRM).
func seed000() Model {
	return Model{Workload: Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Records: 25_000_000}}
}

func mustSize(t *testing.T, m Model) Estimate {
	t.Helper()
	e, err := Size(m)
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	return e
}

func tierOf(t *testing.T, e Estimate, role string) TierEstimate {
	t.Helper()
	for _, te := range e.Tiers {
		if te.Role == role {
			return te
		}
	}
	t.Fatalf("no tier %q in %+v", role, e.Tiers)
	return TierEstimate{}
}

func TestWorkloadDerivation(t *testing.T) {
	tests := []struct {
		name           string
		w              Workload
		wantConcurrent float64
		wantRPS        float64
		wantDesign     float64
		wantRecords    int64
	}{
		{"seed 000", Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Records: 25_000_000},
			1800, 150, 150, 25_000_000},
		{"peak factor", Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, PeakFactor: 2},
			1800, 150, 300, 0},
		{"growth over three years", Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Records: 25_000_000, Growth: 0.2, Years: 3},
			1800, 150, 150 * 1.728, 43_200_000},
		{"everyone on, one request a second", Workload{NamedUsers: 100, Concurrency: 1, TPM: 60},
			100, 100, 100, 0},
		{"one user", Workload{NamedUsers: 1, Concurrency: 0.5, TPM: 12},
			0.5, 0.1, 0.1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustSize(t, Model{Workload: tt.w})
			w := e.Workload
			if !near(w.ConcurrentUsers, tt.wantConcurrent, 1e-12) || !near(w.RequestsPerSecond, tt.wantRPS, 1e-12) ||
				!near(w.DesignRate, tt.wantDesign, 1e-12) || w.DesignRecords != tt.wantRecords {
				t.Errorf("got concurrent %v, rps %v, design %v, records %d; want %v, %v, %v, %d",
					w.ConcurrentUsers, w.RequestsPerSecond, w.DesignRate, w.DesignRecords,
					tt.wantConcurrent, tt.wantRPS, tt.wantDesign, tt.wantRecords)
			}
		})
	}
}

func TestSeed000(t *testing.T) {
	e := mustSize(t, seed000())
	if e.Workload.ConcurrentUsers != 1800 || e.Workload.RequestsPerSecond != 150 {
		t.Fatalf("workload = %+v, want 1800 concurrent and exactly 150 req/s", e.Workload)
	}
	api := tierOf(t, e, "api")
	if api.Servers < 2 {
		t.Errorf("api servers = %d, want at least 2 behind the load balancer", api.Servers)
	}
	// The closed model answers: 1,800 users thinking 12 s between requests
	// send a little under 150 req/s, as each also waits for its responses.
	if e.Model.Name != ModelApproxMVA || e.Model.Population != 1800 || e.Model.ThinkTimeS != 12 || e.Model.Why == "" {
		t.Errorf("model = %+v, want Bard-Schweitzer MVA for 1800 users thinking 12 s", e.Model)
	}
	if x := e.Model.Throughput; !(x < 150 && x > 149) || api.ArrivalRate != x {
		t.Errorf("api arrival = %v, throughput %v; want the closed throughput just under 150", api.ArrivalRate, x)
	}
	if p, r := tierOf(t, e, "db-primary"), tierOf(t, e, "db-replica"); p.Servers != 1 || r.Servers != 1 {
		t.Errorf("db-primary %d, db-replica %d servers; want one of each", p.Servers, r.Servers)
	}
	if !e.MeetsSLO || e.Failover.P95Ms > 500 || e.EndToEnd.P95Ms > e.Failover.P95Ms {
		t.Errorf("SLO: meets %v, end-to-end %+v, failover %+v", e.MeetsSLO, e.EndToEnd, e.Failover)
	}
	for _, te := range e.Tiers {
		if te.Detail == "" || te.Reason == "" {
			t.Errorf("tier %s has no reason or detail: %+v", te.Role, te)
		}
	}
}

// Per-tier numbers against the formulas, for the app tier of seed 000.
func TestTierNumbers(t *testing.T) {
	e := mustSize(t, seed000())
	api := tierOf(t, e, "api")
	wantD := 0.35*12 + 0.35*8 + 0.15*15 + 0.05*40 + 0.10*10
	if !near(api.ServiceDemandMs, wantD, 1e-12) {
		t.Errorf("demand = %v, want %v", api.ServiceDemandMs, wantD)
	}
	// The utilization law at the closed model's throughput; each class's
	// throughput is its mix share of it up to its own response time, a
	// part in a thousand of the 12 s think time.
	x := e.Model.Throughput
	if want := x * wantD / 1000 / float64(api.Servers*api.Cores); !near(api.Utilization, want, 1e-3) {
		t.Errorf("utilization = %v, want %v", api.Utilization, want)
	}
	// At 23 % of 12 cores nobody waits: the closed and open models agree.
	q := station{c: api.Servers * api.Cores, lambda: x, s: wantD / 1000}
	if want := q.response().mean() * 1000; !near(api.PredictedMeanMs, want, 1e-2) {
		t.Errorf("mean = %v, want %v", api.PredictedMeanMs, want)
	}
	if api.PredictedP95Ms <= api.PredictedMeanMs {
		t.Errorf("p95 %v not above mean %v", api.PredictedP95Ms, api.PredictedMeanMs)
	}
	// Only integration calls reach the ESB: 10 % of requests at 30 ms each.
	esb := tierOf(t, e, "integration")
	if !near(esb.ServiceDemandMs, 3, 1e-12) || esb.PredictedMeanMs < 30 {
		t.Errorf("integration: demand %v ms per request, mean %v ms per call; want 3 and at least 30",
			esb.ServiceDemandMs, esb.PredictedMeanMs)
	}
}

func TestSaturation(t *testing.T) {
	m := seed000()
	e := mustSize(t, m)
	for _, te := range e.Tiers {
		if te.ServiceDemandMs == 0 {
			if te.SaturationRate != 0 || te.SaturationNamedUsers != 0 {
				t.Errorf("%s: no demand, yet saturates at %v", te.Role, te.SaturationRate)
			}
			continue
		}
		if got := te.SaturationRate * te.ServiceDemandMs / 1000; !near(got, float64(te.Servers*te.Cores), 1e-9) {
			t.Errorf("%s: saturation rate %v keeps %v cores busy, want %d", te.Role, te.SaturationRate, got, te.Servers*te.Cores)
		}
		// With the count fixed, the saturation point is the last named-user
		// count at or below 100 %.
		// Every tier stays: the primary's demands depend on the replica's
		// being there (WithDefaults).
		fixed := m
		fixed.Tiers = nil
		at := 0
		for i, role := range defaultRoles {
			spec := TierSpec{Role: role}
			if role == te.Role {
				spec.Servers, at = te.Servers, i
			}
			fixed.Tiers = append(fixed.Tiers, spec)
		}
		for users, wantOver := range map[int]bool{te.SaturationNamedUsers: false, te.SaturationNamedUsers + 1: true} {
			fixed.Workload.NamedUsers = users
			u := mustSize(t, fixed).Tiers[at].Utilization
			if (u > 1) != wantOver {
				t.Errorf("%s at %d named users: utilization %v", te.Role, users, u)
			}
		}
	}
}

func TestSLORaisesServers(t *testing.T) {
	// One tier, 100 ms per request on one core: the service time alone has a
	// p95 of 300 ms, so a 400 ms SLO leaves little room for queueing.
	all := map[Class]float64{ClassList: 100, ClassView: 100, ClassWrite: 100, ClassReport: 100, ClassIntegration: 100}
	m := Model{
		Workload: Workload{NamedUsers: 240, Concurrency: 1, TPM: 3}, // 12 req/s = 1.2 busy cores
		SLO:      SLO{P95Ms: 400},
		Tiers:    []TierSpec{{Role: "app", Demand: all, Cores: 1}},
	}
	e := mustSize(t, m)
	app := e.Tiers[0]
	if app.Reason != ReasonSLO || app.Servers <= 2 || !e.MeetsSLO {
		t.Fatalf("got %d servers for %q (meets SLO %v), want more than the 2 utilization needs, for the SLO",
			app.Servers, app.Reason, e.MeetsSLO)
	}
	if app.PredictedP95Ms > 400 {
		t.Errorf("p95 %v ms above the 400 ms SLO", app.PredictedP95Ms)
	}
	one := m
	one.Tiers = []TierSpec{{Role: "app", Demand: all, Cores: 1, Servers: app.Servers - 1}}
	if fewer := mustSize(t, one); fewer.MeetsSLO || fewer.EndToEnd.P95Ms <= 400 {
		t.Errorf("%d servers would do too (p95 %v ms): the count is not the smallest", app.Servers-1, fewer.EndToEnd.P95Ms)
	}
}

func TestSLOUnreachable(t *testing.T) {
	m := seed000()
	m.SLO.P95Ms = 50 // below the sum of the service times' own p95
	e := mustSize(t, m)
	if e.MeetsSLO || !strings.Contains(e.SLOMiss, "integration path") {
		t.Errorf("meets a 50 ms p95 with end-to-end %v ms (%q)", e.Failover.P95Ms, e.SLOMiss)
	}
	if api := tierOf(t, e, "api"); api.Servers != tierOf(t, mustSize(t, seed000()), "api").Servers {
		t.Errorf("an unreachable SLO changed the api count to %d", api.Servers)
	}
}

func TestFixedOverloaded(t *testing.T) {
	m := seed000()
	m.Workload.NamedUsers = 100_000
	m.Tiers = []TierSpec{{Role: "web"}, {Role: "api", Servers: 2}}
	e := mustSize(t, m)
	api := e.Tiers[1]
	if !api.Overloaded || api.Reason != ReasonFixed || api.Utilization <= 1 {
		t.Errorf("api = %+v, want overloaded and fixed", api)
	}
	if e.MeetsSLO || !e.EndToEnd.Unbounded || !strings.Contains(e.SLOMiss, "api is overloaded") {
		t.Errorf("meets SLO %v, end-to-end %+v; want an unbounded miss", e.MeetsSLO, e.EndToEnd)
	}
	if _, err := json.Marshal(e); err != nil {
		t.Errorf("estimate does not encode: %v", err)
	}
}

func TestScaleUp(t *testing.T) {
	m := seed000()
	m.Workload.NamedUsers = 40_000 // 2000 req/s: 9.3 busy cores at the primary
	e := mustSize(t, m)
	db := tierOf(t, e, "db-primary")
	if db.Servers != 1 || db.Cores <= 4 || db.Reason != ReasonScaleUp || db.Utilization > 0.6 {
		t.Errorf("db-primary = %+v, want one scaled-up server at or below 60 %%", db)
	}
	m.Workload.NamedUsers = 2_000_000 // beyond MaxCores
	e = mustSize(t, m)
	if db := tierOf(t, e, "db-primary"); db.Servers != 1 || db.Cores != MaxCores || db.Reason != ReasonMax || e.MeetsSLO {
		t.Errorf("db-primary = %+v (meets SLO %v), want one capped server that misses", db, e.MeetsSLO)
	}
}

func TestHAAndMin(t *testing.T) {
	m := seed000()
	m.Tiers = []TierSpec{
		{Role: "web"},
		{Role: "cache", Min: 3},
		{Role: "api", Demand: map[Class]float64{ClassView: 10}, HA: true, Min: 1},
	}
	e := mustSize(t, m)
	if web := e.Tiers[0]; web.Servers != 2 || web.Reason != ReasonHA {
		t.Errorf("web = %d (%s), want 1 + 1 for N+1", web.Servers, web.Reason)
	}
	if cache := e.Tiers[1]; cache.Servers != 3 || cache.Reason != ReasonMin {
		t.Errorf("cache = %d (%s), want min 3", cache.Servers, cache.Reason)
	}
	if api := e.Tiers[2]; api.Servers != 2 || api.Cores != 4 {
		t.Errorf("api = %d x %d cores, want 2 x 4 (role default cores)", api.Servers, api.Cores)
	}
	// The failover prediction runs every HA tier one server short.
	if e.Failover.P95Ms < e.EndToEnd.P95Ms || e.Failover.MeanMs < e.EndToEnd.MeanMs {
		t.Errorf("failover %+v faster than all servers up %+v", e.Failover, e.EndToEnd)
	}
}

func TestWithDefaults(t *testing.T) {
	m := Model{Workload: Workload{NamedUsers: 10, Concurrency: 1, TPM: 1}}.WithDefaults()
	if m.Workload.PeakFactor != 1 || len(m.Workload.Mix) != 5 || !reflect.DeepEqual(m.SLO, DefaultSLO()) || m.Database != DefaultDatabase() {
		t.Errorf("workload, SLO or database not defaulted: %+v", m)
	}
	if len(m.Tiers) != len(DefaultTiers()) {
		t.Errorf("tiers = %d, want the %d default tiers", len(m.Tiers), len(DefaultTiers()))
	}
	own := Model{Tiers: []TierSpec{{Role: "api", Demand: map[Class]float64{ClassList: 5}}, {Role: "custom", Demand: map[Class]float64{}}}}.WithDefaults()
	if api := own.Tiers[0]; api.HA || api.Min != 0 || api.Cores != 4 || api.TargetUtilization != 0.6 || api.Visit != 1 {
		t.Errorf("a tier with its own demand took role defaults beyond sizes: %+v", api)
	}
	if c := own.Tiers[1]; c.Cores != 2 || c.TargetUtilization != 0.6 || c.Visit != 1 {
		t.Errorf("unknown role not given generic defaults: %+v", c)
	}
	for _, role := range DefaultRoles() {
		if _, ok := DefaultTier(role); !ok {
			t.Errorf("DefaultTier(%q) unknown", role)
		}
	}
	if _, ok := DefaultTier("mainframe"); ok {
		t.Error("DefaultTier knows an unknown role")
	}
	var sum float64
	for _, s := range DefaultMix() {
		sum += s
	}
	if !near(sum, 1, 1e-12) {
		t.Errorf("default mix sums to %v", sum)
	}
}

func TestSizeInvalid(t *testing.T) {
	ok := seed000
	tests := []struct {
		name      string
		change    func(*Model)
		wantField string
	}{
		{"zero users", func(m *Model) { m.Workload.NamedUsers = 0 }, "workload.named_users"},
		{"negative users", func(m *Model) { m.Workload.NamedUsers = -5 }, "workload.named_users"},
		{"zero concurrency", func(m *Model) { m.Workload.Concurrency = 0 }, "workload.concurrency"},
		{"negative concurrency", func(m *Model) { m.Workload.Concurrency = -0.1 }, "workload.concurrency"},
		{"concurrency above 100 %", func(m *Model) { m.Workload.Concurrency = 1.5 }, "workload.concurrency"},
		{"concurrency as a percentage", func(m *Model) { m.Workload.Concurrency = 60 }, "workload.concurrency"},
		{"NaN concurrency", func(m *Model) { m.Workload.Concurrency = math.NaN() }, "workload.concurrency"},
		{"negative TPM", func(m *Model) { m.Workload.TPM = -1 }, "workload.tpm"},
		{"NaN TPM", func(m *Model) { m.Workload.TPM = math.NaN() }, "workload.tpm"},
		{"infinite TPM", func(m *Model) { m.Workload.TPM = math.Inf(1) }, "workload.tpm"},
		{"negative records", func(m *Model) { m.Workload.Records = -1 }, "workload.records"},
		{"peak below average", func(m *Model) { m.Workload.PeakFactor = 0.5 }, "workload.peak_factor"},
		{"NaN peak", func(m *Model) { m.Workload.PeakFactor = math.NaN() }, "workload.peak_factor"},
		{"shrinking to nothing", func(m *Model) { m.Workload.Growth = -1 }, "workload.growth"},
		{"negative years", func(m *Model) { m.Workload.Years = -1 }, "workload.years"},
		{"growth beyond the model", func(m *Model) { m.Workload.Growth, m.Workload.Years = 2, 10 }, "workload.growth"},
		{"a request every millisecond per session", func(m *Model) { m.Workload.TPM = 60_000 }, "workload.tpm"},
		{"an hour-long request", func(m *Model) {
			m.Tiers = []TierSpec{{Role: "api", Demand: map[Class]float64{ClassView: 1e7}}}
		}, "tiers[0].demand_ms.view"},
		{"unknown class in mix", func(m *Model) { m.Workload.Mix = Mix{"browse": 1} }, "workload.mix.browse"},
		{"mix not summing to 1", func(m *Model) { m.Workload.Mix = Mix{ClassList: 0.5, ClassView: 0.4} }, "workload.mix"},
		{"negative SLO", func(m *Model) { m.SLO.P95Ms = -1 }, "slo.p95_ms"},
		{"error rate 100 %", func(m *Model) { m.SLO.ErrorRate = 1 }, "slo.error_rate"},
		{"empty role", func(m *Model) { m.Tiers = []TierSpec{{}} }, "tiers[0].role"},
		{"unknown role", func(m *Model) { m.Tiers = []TierSpec{{Role: "web"}, {Role: "mainframe"}} }, "tiers[1].role"},
		{"negative demand", func(m *Model) {
			m.Tiers = []TierSpec{{Role: "api", Demand: map[Class]float64{ClassView: -2}}}
		}, "tiers[0].demand_ms.view"},
		{"NaN demand", func(m *Model) {
			m.Tiers = []TierSpec{{Role: "api", Demand: map[Class]float64{ClassList: math.NaN()}}}
		}, "tiers[0].demand_ms.list"},
		{"visit above 1", func(m *Model) { m.Tiers = []TierSpec{{Role: "api", Visit: 1.5}} }, "tiers[0].visit"},
		{"negative cores", func(m *Model) { m.Tiers = []TierSpec{{Role: "api", Cores: -1}} }, "tiers[0].cores"},
		{"target of 100 %", func(m *Model) { m.Tiers = []TierSpec{{Role: "api", TargetUtilization: 1}} }, "tiers[0].target_utilization"},
		{"negative servers", func(m *Model) { m.Tiers = []TierSpec{{Role: "api", Servers: -2}} }, "tiers[0].servers"},
		{"min above max", func(m *Model) { m.Tiers = []TierSpec{{Role: "api", Min: 3, MaxServers: 2}} }, "tiers[0].max_servers"},
		{"HA with room for one", func(m *Model) { m.Tiers = []TierSpec{{Role: "db-primary", HA: true}} }, "tiers[0].max_servers"},
		{"negative row size", func(m *Model) { m.Database.RowBytes = -1 }, "database.row_bytes"},
		{"working set above all", func(m *Model) { m.Database.WorkingSetShare = 2 }, "database.working_set_share"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok()
			tt.change(&m)
			_, err := Size(m)
			var ce *crmplan.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *crmplan.Error", err)
			}
			if ce.Code != crmplan.EINVALID || ce.Field != tt.wantField || ce.Hint == "" {
				t.Errorf("got code %q field %q hint %q (%v); want %q at %q with a hint",
					ce.Code, ce.Field, ce.Hint, err, crmplan.EINVALID, tt.wantField)
			}
		})
	}
}

// Seed 000's end-to-end p95 is that of the whole path, not a sum of tier
// percentiles: each class's p95 lies between its service times alone and
// the sum of its tiers' p95s (a request slow everywhere at once), and the
// p95 of all requests lies between the classes' p95s.
func TestEndToEndP95OfTheWholePath(t *testing.T) {
	e := mustSize(t, seed000())
	p95 := func(role string) float64 { return tierOf(t, e, role).PredictedP95Ms }
	bound := map[Class]float64{
		ClassIntegration: p95("api") + p95("db-primary") + p95("integration"),
		ClassWrite:       p95("web") + p95("api") + p95("db-primary") + p95("db-replica"),
		ClassList:        p95("web") + p95("api") + p95("db-primary"),
	}
	lo, hi := math.Inf(1), 0.0
	for c, cl := range e.EndToEnd.ByClass {
		lo, hi = math.Min(lo, cl.P95Ms), math.Max(hi, cl.P95Ms)
		if b, ok := bound[c]; ok && !(cl.P95Ms < b) {
			t.Errorf("%s p95 %v, want below the sum of its tiers' p95s %v", c, cl.P95Ms, b)
		}
		if !(cl.P95Ms > cl.MeanMs) {
			t.Errorf("%s p95 %v not above its mean %v", c, cl.P95Ms, cl.MeanMs)
		}
	}
	if len(e.EndToEnd.ByClass) != len(DefaultMix()) || !(e.EndToEnd.P95Ms > lo && e.EndToEnd.P95Ms < hi) {
		t.Errorf("end-to-end p95 %v, want between the classes' %v and %v (%+v)", e.EndToEnd.P95Ms, lo, hi, e.EndToEnd.ByClass)
	}
	// The mean is the mix-weighted mean of the class paths.
	var mean float64
	for c, share := range DefaultMix() {
		mean += share * e.EndToEnd.ByClass[c].MeanMs
	}
	if !near(e.EndToEnd.MeanMs, mean, 1e-12) {
		t.Errorf("end-to-end mean = %v, want %v", e.EndToEnd.MeanMs, mean)
	}
}

// The bracketed figures of the defaults table in defaults.go, so that the
// documentation cannot drift from DefaultTier.
func TestDefaultTierTable(t *testing.T) {
	want := map[string]float64{"web": 0.86, "proxy": 0.27, "failover": 0.18, "api": 12.25, "worker": 0,
		"db-primary": 4.65, "db-replica": 0.3, "cache": 0.215, "docstore": 0, "integration": 3.0, "queue": 0.175, "kv": 0.02,
		"marketing": 0, "marketing-db": 0, "etl": 0, "scheduler": 0, "mail": 0, "admin": 0, "vpn": 0, "loadgen": 1.03}
	for role, w := range want {
		spec, _ := DefaultTier(role)
		var d float64
		for c, share := range DefaultMix() {
			d += share * spec.Demand[c]
		}
		if !near(d, w, 1e-9) {
			t.Errorf("%s: mix-weighted demand %v ms, the table says %v", role, d, w)
		}
	}
	if len(want) != len(DefaultRoles()) {
		t.Errorf("table covers %d roles, DefaultRoles has %d", len(want), len(DefaultRoles()))
	}
}

// TestLoadgenOffPath: a loadgen tier is sized for the rate from k6's CPU
// per request, and its queueing adds nothing to the end-to-end latency.
func TestLoadgenOffPath(t *testing.T) {
	m := seed000()
	m.Tiers = DefaultTiers()
	without := mustSize(t, m)
	lg, _ := DefaultTier("loadgen")
	m.Tiers = append(m.Tiers, lg)
	with := mustSize(t, m)
	if !reflect.DeepEqual(with.EndToEnd, without.EndToEnd) {
		t.Errorf("end-to-end %+v with a loadgen tier, %+v without: want the same", with.EndToEnd, without.EndToEnd)
	}
	te := tierOf(t, with, "loadgen")
	// 1.03 ms per request at the design rate on 2 cores.
	if want := with.Workload.DesignRate * 1.03 / 1000 / 2; te.Servers != 1 || !near(te.Utilization, want, 1e-9) {
		t.Errorf("loadgen: %d servers at %v, want 1 at %v", te.Servers, te.Utilization, want)
	}
	big := m
	big.Workload.NamedUsers *= 40 // 6000 req/s: 6.2 cores of k6
	if te := tierOf(t, mustSize(t, big), "loadgen"); te.Servers < 5 {
		t.Errorf("loadgen at 40x the users: %d servers, want at least 5 (6.2 cores at 60 %% of 2 each)", te.Servers)
	}
}

// The CRM reads lists and reports from the replica when it has one: with
// both database tiers on their defaults, those classes' database demand
// is the replica's, and the primary keeps the session lookup, the views
// and the writes; no write waits for the replica's replay. Without a
// replica the primary has them all; a plan's own demands are its own.
func TestReplicaServesReads(t *testing.T) {
	byRole := func(tiers []TierSpec) map[string]TierSpec {
		out := map[string]TierSpec{}
		for _, t := range tiers {
			out[t.Role] = t
		}
		return out
	}
	both := byRole(Model{Tiers: []TierSpec{{Role: "db-primary"}, {Role: "db-replica"}}}.WithDefaults().Tiers)
	p, r := both["db-primary"].Demand, both["db-replica"].Demand
	if !(r[ClassList] > p[ClassList] && r[ClassReport] > p[ClassReport] && r[ClassWrite] == 0 && r[ClassView] == 0 && p[ClassWrite] > 0 && p[ClassView] > 0) {
		t.Errorf("with a replica: primary %v, replica %v", p, r)
	}
	if d := byRole(DefaultTiers()); !reflect.DeepEqual(d["db-replica"].Demand, r) {
		t.Errorf("DefaultTiers' replica %v, want %v", d["db-replica"].Demand, r)
	}
	alone := byRole(Model{Tiers: []TierSpec{{Role: "db-primary"}}}.WithDefaults().Tiers)["db-primary"].Demand
	def, _ := DefaultTier("db-primary")
	if !reflect.DeepEqual(alone, def.Demand) {
		t.Errorf("primary without a replica: %v, want the role's %v", alone, def.Demand)
	}
	// A calibrated primary (its own demands) beside a replica on the
	// defaults: the replica still serves the reads.
	own := map[Class]float64{ClassList: 7}
	mine := byRole(Model{Tiers: []TierSpec{{Role: "db-primary", Demand: own}, {Role: "db-replica"}}}.WithDefaults().Tiers)
	if !reflect.DeepEqual(mine["db-primary"].Demand, own) || !reflect.DeepEqual(mine["db-replica"].Demand, r) {
		t.Errorf("a plan's own primary demands: %v, replica %v", mine["db-primary"].Demand, mine["db-replica"].Demand)
	}
}
