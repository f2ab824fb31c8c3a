package topology

import (
	"reflect"
	"strings"
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

// TestLayLoadgen: a loadgen tier in an outside zone gets hosts there,
// sized by the model, with a link to the stack's entry role only; any
// other role in an outside zone is refused.
func TestLayLoadgen(t *testing.T) {
	src := strings.Replace(base, "zones:\n", "zones:\n  - {name: users, kind: outside, cidr: 127.10.0.0/24}\n", 1)
	src = strings.Replace(src, "links:\n", "  - role: loadgen\n    zone: users\nlinks:\n", 1)
	p, err := DecodePlan("plan.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Lay(p)
	if err != nil {
		t.Fatal(err)
	}
	var gens []Host
	for _, h := range l.Topology.Hosts {
		if h.Role == RoleLoadgen {
			gens = append(gens, h)
		}
	}
	if len(gens) != 1 || gens[0].Zone != "users" || gens[0].Address != "127.10.0.10" {
		t.Errorf("loadgen hosts = %+v, want one in users at 127.10.0.10", gens)
	}
	var links []Link
	for _, k := range l.Topology.Links {
		if k.From == RoleLoadgen || k.To == RoleLoadgen {
			links = append(links, k)
		}
	}
	if want := []Link{{From: RoleLoadgen, To: RoleWeb, Port: 8080}}; !reflect.DeepEqual(links, want) {
		t.Errorf("loadgen links = %+v, want %+v", links, want)
	}
	if err := l.Topology.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	bad := strings.Replace(src, "role: web\n    zone: dmz", "role: web\n    zone: users", 1)
	_, err = DecodePlan("plan.yaml", []byte(bad))
	if e := asError(t, err); !strings.Contains(e.Message, `the outside zone "users" holds only load generators, not web`) {
		t.Errorf("web outside: %v", err)
	}
	linked := src + "  - {from: loadgen, to: db-primary}\n"
	if _, err := DecodePlan("plan.yaml", []byte(linked)); err == nil || !strings.Contains(err.Error(), "reach db-primary directly") {
		t.Errorf("loadgen linked to the database: %v, want refused", err)
	}
}
