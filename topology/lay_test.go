package topology

import (
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

func TestLay(t *testing.T) {
	seed := sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5}
	tests := []struct {
		name      string
		plan      func() *Plan
		wantErr   string // the error's field; "" for none
		wantSized bool   // the estimate is kept
		wantHosts bool
	}{
		{"seed 000", func() *Plan { return NewPlan("x", seed) }, "", true, true},
		{"model rejects the workload", func() *Plan { return NewPlan("x", sizing.Workload{Concurrency: 0.6, TPM: 5}) },
			"workload.named_users", false, false},
		{"zone too small for its hosts", func() *Plan {
			p := NewPlan("x", seed)
			p.Zones[1].CIDR = "127.10.2.0/28" // .10 to .14: five hosts
			p.Tiers[1].Servers = 6
			return p
		}, "zones[1].cidr", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.plan()
			l, err := Lay(p)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Lay: %v", err)
			}
			if tt.wantErr != "" {
				e, ok := err.(*crmplan.Error)
				if !ok || e.Field != tt.wantErr {
					t.Fatalf("error %v, want one at %s", err, tt.wantErr)
				}
			}
			if sized := l.Plan == p && len(l.Estimate.Tiers) == len(p.Tiers); sized != tt.wantSized {
				t.Errorf("plan and estimate kept = %v, want %v", sized, tt.wantSized)
			}
			if hosts := len(l.Topology.Hosts) > 0; hosts != tt.wantHosts {
				t.Errorf("hosts laid out = %v, want %v", hosts, tt.wantHosts)
			}
		})
	}
}
