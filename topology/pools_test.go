package topology

import (
	"testing"

	"github.com/crmplan/crmplan/sizing"
)

// TestSeedsScaleWithoutARestart: in every seed's plan, any db-client tier
// (api, worker, etl) set to 1..8 servers leaves max_connections, and every
// other setting PostgreSQL takes only at a restart, as the plan sizes it;
// and no tier's servers hold more than its total between them. That is
// what lets `crmplan apply` scale such a tier under load without
// restarting PostgreSQL.
func TestSeedsScaleWithoutARestart(t *testing.T) {
	for name, data := range examples(t) {
		t.Run(name, func(t *testing.T) {
			p, base, _ := built(t, name, data)
			m := p.Model()
			scaled := 0
			for i, spec := range m.Tiers {
				if !dbClientRole(spec.Role) {
					continue
				}
				scaled++
				for n := 1; n <= 8; n++ {
					m := p.Model()
					m.Tiers[i].Servers, m.Tiers[i].Min = n, 0
					if m.Tiers[i].MaxServers > 0 {
						// Seed 004's active-passive pair: the cap is the
						// plan's, the sizing's answer is what is tested.
						m.Tiers[i].MaxServers = max(m.Tiers[i].MaxServers, n)
					}
					e, err := sizing.Size(m)
					if err != nil {
						t.Fatalf("%s at %d servers: %v", spec.Role, n, err)
					}
					if got, want := e.Database.Settings, base.Database.Settings; got.MaxConnections != want.MaxConnections ||
						got.SharedBuffers != want.SharedBuffers {
						t.Errorf("%s at %d servers: max_connections %d shared_buffers %s, want the plan's %d %s (pools %+v)",
							spec.Role, n, got.MaxConnections, got.SharedBuffers, want.MaxConnections, want.SharedBuffers, e.Database.Pools)
					}
					for _, tp := range e.Database.Pools {
						if tp.PerServer*tp.Servers > tp.Total || tp.PerServer < 2 {
							t.Errorf("%s at %d servers: %s's %d servers of %d connections, total %d", spec.Role, n, tp.Role, tp.Servers, tp.PerServer, tp.Total)
						}
					}
				}
			}
			if scaled == 0 {
				t.Errorf("%s has no db-client tier to scale", name)
			}
		})
	}
}

// dbClientRole says whether a role's servers keep a pool to the primary.
func dbClientRole(role string) bool {
	switch Role(role) {
	case RoleAPI, RoleWorker, RoleETL:
		return true
	}
	return false
}
