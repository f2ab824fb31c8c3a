package provision

import (
	"errors"
	"testing"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// TestHostHealth judges hosts from what their agents report.
func TestHostHealth(t *testing.T) {
	tests := []struct {
		name        string
		role        string
		report      hostReport
		wantHealthy bool
		want        string
	}{
		{"a loadgen host runs no role and is fine", "loadgen", hostReport{mesh: "up, pid 7"}, true, "ok"},
		{"an api host without its role is not", "api", hostReport{mesh: "up, pid 7"}, false, "no crm role runs on the host"},
		{"an api host serving", "api", hostReport{mesh: "up, pid 7", status: wire.Status{Roles: []wire.RoleHealth{{Role: "api", Healthy: true}}}}, true, "ok"},
		{"a loadgen host whose agent does not answer", "loadgen", hostReport{mesh: "DOWN", err: errors.New("no route")}, false, "no route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := HostStatus{Role: tt.role}
			hs.fill(tt.report)
			if hs.Healthy != tt.wantHealthy || hs.Health != tt.want {
				t.Errorf("healthy %v (%q), want %v (%q)", hs.Healthy, hs.Health, tt.wantHealthy, tt.want)
			}
		})
	}
}
