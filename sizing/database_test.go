package sizing

import (
	"fmt"
	"math"
	"testing"
)

func TestPGSize(t *testing.T) {
	tests := []struct {
		bytes int64
		want  string
	}{
		{4 * giB, "4GB"},
		{giB + giB/2, "1536MB"},
		{64 * miB, "64MB"},
		{53_687_091, "52428kB"}, // rounded down to a whole kB
		{1 << 40, "1TB"},
		{100, "0kB"},
	}
	for _, tt := range tests {
		if got := pgSize(tt.bytes); got != tt.want {
			t.Errorf("pgSize(%d) = %q, want %q", tt.bytes, got, tt.want)
		}
	}
}

func TestDatabaseSeed000(t *testing.T) {
	e := mustSize(t, seed000())
	d := e.Database
	if want := int64(25_000_000 * 1024 * 1.5); d.StorageBytes != want {
		t.Errorf("storage = %d, want records x row x (1 + index overhead) = %d", d.StorageBytes, want)
	}
	if want := int64(float64(d.StorageBytes) * 0.2); d.WorkingSetBytes != want {
		t.Errorf("working set = %d, want %d", d.WorkingSetBytes, want)
	}
	// 7.68 GB of working set needs 10.24 GB at 75 % cache: a 16 GiB server.
	if d.MemoryBytes != 16*giB {
		t.Errorf("memory = %d, want 16 GiB", d.MemoryBytes)
	}
	s := d.Settings
	if s.SharedBuffers != "4GB" || s.EffectiveCacheSize != "12GB" || s.MaintenanceWorkMem != "1GB" {
		t.Errorf("settings = %+v", s)
	}
	// Pools: one total a db-client tier (api, etl), 13 reserved; tens.
	sum := 0
	for _, tp := range d.Pools {
		sum += tp.Total
	}
	want := max((sum+reservedConnections+9)/10*10, minMaxConnections)
	if s.MaxConnections != want || len(d.Pools) != 2 {
		t.Errorf("max_connections = %d, want %d for the pools %+v (api and etl)", s.MaxConnections, want, d.Pools)
	}
	// 4 db cores: the wiki's 2*4+1 = 9 connections, below the room for 8
	// servers of 2; that total over 2 app servers.
	if d.PoolPerAppServer != 8 || d.Pool("api") != 8 || d.Pool("etl") != 16 || d.Pool("worker") != 0 {
		t.Errorf("pools = %+v, want 16/2 = 8 per api server, 16 for the one etl server, none for a worker", d.Pools)
	}
	wantWork := (16*giB - 4*giB) / (3 * int64(s.MaxConnections)) / 2
	if s.WorkMem != pgSize(wantWork) {
		t.Errorf("work_mem = %s, want %s", s.WorkMem, pgSize(wantWork))
	}
}

// Little's law sets the pool only when requests queue at the primary: a
// primary at or below its target has fewer requests in flight than cores.
// So this test fixes a 4-core primary and drives it to 95 %.
func TestDatabasePoolFollowsLittlesLaw(t *testing.T) {
	m := seed000()
	m.Workload.NamedUsers = 16_300 // 815 req/s x 4.65 ms = 3.79 busy cores of 4
	m.Tiers = []TierSpec{{Role: "web"}, {Role: "api"}, {Role: "db-primary", Servers: 1}}
	e := mustSize(t, m)
	db, api := tierOf(t, e, "db-primary"), tierOf(t, e, "api")
	inFlight := db.ArrivalRate * db.PredictedMeanMs / 1000 // every class uses the primary
	total := int(math.Ceil(2 * inFlight))
	if total <= minPool*scaleRoom {
		t.Fatalf("test load too small: %v in flight", inFlight)
	}
	if want := total / api.Servers; e.Database.PoolPerAppServer != want {
		t.Errorf("pool = %d, want 2 x %.2f in flight = %d over %d app servers, rounded down = %d", e.Database.PoolPerAppServer, inFlight, total, api.Servers, want)
	}
}

func TestDatabaseOverridesAndGrowth(t *testing.T) {
	m := seed000()
	m.Database.MemoryBytes = 64 * giB
	m.Workload.Growth, m.Workload.Years = 0.2, 3
	d := mustSize(t, m).Database
	if d.Settings.SharedBuffers != "16GB" || d.Settings.EffectiveCacheSize != "48GB" || d.Settings.MaintenanceWorkMem != "2GB" {
		t.Errorf("settings for 64 GiB = %+v", d.Settings)
	}
	if want := int64(43_200_000 * 1024 * 1.5); d.StorageBytes != want {
		t.Errorf("storage after three years of 20 %% = %d, want %d", d.StorageBytes, want)
	}
	m.Workload.Records = 0
	if d := mustSize(t, m).Database; d.StorageBytes != 0 || d.MemoryBytes != 64*giB {
		t.Errorf("no records: %+v", d)
	}
}

// A tier scaled out or in within the plan must not change
// max_connections: PostgreSQL takes a higher one only by a restart, which
// fails every request meanwhile. The db-client tiers (api, worker, etl)
// each hold one total whatever their server count; the integrators and the
// scheduler never connect. Past 8 servers of a tier, its servers' pools of
// 2 outgrow the total: then it grows, and honestly so does max_connections.
func TestDatabaseMaxConnectionsWhenATierScales(t *testing.T) {
	tests := []struct {
		role     string
		from, to int
		changes  bool
	}{
		{"integration", 2, 3, false}, // seed 002's ARSRV added
		{"integration", 3, 2, false},
		{"scheduler", 1, 2, false},
		{"api", 2, 3, false},
		{"api", 3, 2, false},
		{"api", 1, 8, false},
		{"worker", 1, 2, false}, // seed 001's job server
		{"worker", 2, 1, false},
		{"etl", 1, 8, false},
		// 13 servers of 2 > 16: 10 more (9 servers' would hide in the tens).
		{"worker", 8, 13, true},
		{"etl", 4, 16, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d to %d", tt.role, tt.from, tt.to), func(t *testing.T) {
			with := func(n int) DatabaseEstimate {
				m := seed000()
				// Seed 002's tiers that reach the data, with worker and
				// etl tiers for their rows.
				m.Tiers = []TierSpec{{Role: "web"}, {Role: "api", Servers: 2}, {Role: "integration", Servers: 2},
					{Role: "scheduler", Servers: 1}, {Role: "worker"}, {Role: "etl"}, {Role: "db-primary"}}
				for i := range m.Tiers {
					if m.Tiers[i].Role == tt.role {
						m.Tiers[i].Servers = n
					}
				}
				return mustSize(t, m).Database
			}
			before, after := with(tt.from), with(tt.to)
			if changed := before.Settings.MaxConnections != after.Settings.MaxConnections; changed != tt.changes {
				t.Errorf("max_connections %d -> %d, want changed = %v (pools %+v -> %+v)",
					before.Settings.MaxConnections, after.Settings.MaxConnections, tt.changes, before.Pools, after.Pools)
			}
			if after.Settings != before.Settings && !tt.changes {
				t.Errorf("settings %+v -> %+v, want the same: a restart-only one would restart PostgreSQL", before.Settings, after.Settings)
			}
		})
	}
}

// TestTierPools: each server's pool is the tier's total over its servers
// rounded down, never below 2; their sum stays within the total until the
// floor of 2 takes over (past ScalesTo), where the total is that sum.
func TestTierPools(t *testing.T) {
	tests := []struct {
		name     string
		tiers    []TierEstimate
		apiTotal int
		want     []TierPool
	}{
		{"seed 000", []TierEstimate{{Role: "web", Servers: 2}, {Role: "api", Servers: 2}, {Role: "etl", Servers: 1}}, 9,
			[]TierPool{{Role: "api", Servers: 2, Total: 16, PerServer: 8, ScalesTo: 8}, {Role: "etl", Servers: 1, Total: 16, PerServer: 16, ScalesTo: 8}}},
		{"rounded down", []TierEstimate{{Role: "api", Servers: 3}, {Role: "worker", Servers: 3}}, 9,
			[]TierPool{{Role: "api", Servers: 3, Total: 16, PerServer: 5, ScalesTo: 8}, {Role: "worker", Servers: 3, Total: 16, PerServer: 5, ScalesTo: 8}}},
		{"Little's law above the room", []TierEstimate{{Role: "api", Servers: 3}}, 40,
			[]TierPool{{Role: "api", Servers: 3, Total: 40, PerServer: 13, ScalesTo: 20}}},
		{"past the room", []TierEstimate{{Role: "worker", Servers: 11}}, 9,
			[]TierPool{{Role: "worker", Servers: 11, Total: 22, PerServer: 2, ScalesTo: 8}}},
		{"one tier in two zones", []TierEstimate{{Role: "api", Servers: 2}, {Role: "integration", Servers: 2}, {Role: "api", Servers: 2}}, 9,
			[]TierPool{{Role: "api", Servers: 4, Total: 16, PerServer: 4, ScalesTo: 8}}},
		{"no db client", []TierEstimate{{Role: "web", Servers: 2}, {Role: "scheduler", Servers: 1}}, 9, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tierPools(tt.tiers, tt.apiTotal)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("tierPools = %+v, want %+v", got, tt.want)
			}
			for _, tp := range got {
				if tp.PerServer*tp.Servers > tp.Total {
					t.Errorf("%s: %d servers of %d exceed the total %d", tp.Role, tp.Servers, tp.PerServer, tp.Total)
				}
			}
		})
	}
}
