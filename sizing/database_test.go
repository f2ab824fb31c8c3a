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
	// Pools: every api and worker server gets one, a migration server
	// crm's default; 13 reserved; tens.
	clients, etls := 0, 0
	for _, te := range e.Tiers {
		switch {
		case te.Role == "etl":
			etls += te.Servers
		case dbClient(te.Role):
			clients += te.Servers
		}
	}
	want := max((d.PoolPerAppServer*clients+etlPool*etls+reservedConnections+9)/10*10, minMaxConnections)
	if s.MaxConnections != want {
		t.Errorf("max_connections = %d, want %d for %d client servers with pools of %d and %d migration servers", s.MaxConnections, want, clients, d.PoolPerAppServer, etls)
	}
	// 4 db cores: the wiki's 2*4+1 = 9 connections over 2 app servers.
	if d.PoolPerAppServer != 5 {
		t.Errorf("pool = %d, want ceil(9/2) = 5", d.PoolPerAppServer)
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
	want := int(math.Ceil(2 * inFlight / float64(api.Servers)))
	if 2*inFlight <= float64(2*db.Cores+1) {
		t.Fatalf("test load too small: %v in flight", inFlight)
	}
	if e.Database.PoolPerAppServer != want {
		t.Errorf("pool = %d, want 2 x %.2f in flight over %d app servers = %d", e.Database.PoolPerAppServer, inFlight, api.Servers, want)
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

// A tier scaled out within the plan must not raise max_connections when
// its servers hold no pool of their own: PostgreSQL takes a higher one
// only by a restart, which fails every request meanwhile. The api servers
// share one total; the integrators and the scheduler never connect. A
// worker holds a pool of its own, so adding one does raise it.
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
		{"worker", 1, 2, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d to %d", tt.role, tt.from, tt.to), func(t *testing.T) {
			with := func(n int) PGSettings {
				m := seed000()
				// Seed 002's tiers that reach the data, with a worker
				// tier for its own row.
				m.Tiers = []TierSpec{{Role: "web"}, {Role: "api", Servers: 2}, {Role: "integration", Servers: 2},
					{Role: "scheduler", Servers: 1}, {Role: "db-primary"}}
				if tt.role == "worker" {
					m.Tiers = append(m.Tiers, TierSpec{Role: "worker"})
				}
				for i := range m.Tiers {
					if m.Tiers[i].Role == tt.role {
						m.Tiers[i].Servers = n
					}
				}
				return mustSize(t, m).Database.Settings
			}
			before, after := with(tt.from), with(tt.to)
			if changed := before.MaxConnections != after.MaxConnections; changed != tt.changes {
				t.Errorf("max_connections %d -> %d, want changed = %v", before.MaxConnections, after.MaxConnections, tt.changes)
			}
		})
	}
}
