package provision

import (
	"os"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// TestRolesLayoutExamples: every seed topology places a process on every
// host, each on its role's port (nothing is "host only").
func TestRolesLayoutExamples(t *testing.T) {
	tests := []struct {
		file      string
		wantRoles []topology.Role // roles the example must have, so the check is not vacuous
	}{
		{"simplecrm.yaml", []topology.Role{topology.RoleIntegration, topology.RoleETL, topology.RoleMarketing, topology.RoleMarketingDB}},
		{"longjump.yaml", []topology.Role{topology.RoleCache, topology.RoleDocStore, topology.RoleWorker}},
		{"arint.yaml", []topology.Role{topology.RoleProxy, topology.RoleIntegration, topology.RoleScheduler, topology.RoleQueue, topology.RoleKV, topology.RoleMail, topology.RoleAdmin}},
		{"smarten-ha.yaml", nil},
		{"client-server.yaml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("../examples/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := topology.DecodePlan(tt.file, data)
			if err != nil {
				t.Fatal(err)
			}
			laid, err := topology.Lay(plan)
			if err != nil {
				t.Fatal(err)
			}
			l, err := NewLayout(LayoutInput{Paths: stackdir.Paths{StateDir: "/s", Stack: plan.Name}, Topology: laid.Topology})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Unsupported) > 0 {
				t.Errorf("host only: %v", l.Unsupported)
			}
			for _, r := range tt.wantRoles {
				if len(l.ByRole(r)) == 0 {
					t.Errorf("no %s host in %s", r, tt.file)
				}
			}
			for _, h := range l.Hosts {
				if h.Port != topology.DefaultPort(h.Role) {
					t.Errorf("%s (%s) on port %d, want %d", h.Name, h.Role, h.Port, topology.DefaultPort(h.Role))
				}
			}
		})
	}
}
