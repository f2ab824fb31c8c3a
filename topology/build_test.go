package topology

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// TestBuildExamples sizes and builds every example and keeps topology and
// estimate in golden files; it also checks what each seed demands of its
// layout, so that a golden refresh cannot quietly lose it.
func TestBuildExamples(t *testing.T) {
	for name, data := range examples(t) {
		t.Run(name, func(t *testing.T) {
			_, est, top := built(t, name, data)
			if err := top.Validate(); err != nil {
				t.Fatalf("built topology does not validate: %v", err)
			}
			if !est.MeetsSLO {
				t.Errorf("example misses its SLO: end-to-end p95 %.0f ms", est.EndToEnd.P95Ms)
			}
			out, err := json.MarshalIndent(struct {
				Topology Topology        `json:"topology"`
				Estimate sizing.Estimate `json:"estimate"`
			}{top, est}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "build/"+strings.TrimSuffix(name, ".yaml")+".json", append(out, '\n'))
			golden(t, "diagram/"+strings.TrimSuffix(name, ".yaml")+".svg", DiagramSVG(top))
		})
	}
}

func TestSeedLayouts(t *testing.T) {
	ex := examples(t)
	zoneOf := func(top Topology, r Role) []string {
		var zs []string
		for _, h := range top.HostsByRole(r) {
			zs = append(zs, h.Zone)
		}
		return zs
	}
	t.Run("simplecrm", func(t *testing.T) {
		_, est, top := built(t, "simplecrm.yaml", ex["simplecrm.yaml"])
		if est.Workload.ConcurrentUsers != 1800 || est.Workload.RequestsPerSecond != 150 {
			t.Errorf("workload = %v users, %v req/s; the seed says 1800 and 150", est.Workload.ConcurrentUsers, est.Workload.RequestsPerSecond)
		}
		if n := len(top.HostsByRole(RoleAPI)); n < 2 {
			t.Errorf("%d app servers, the seed has two behind the load balancer", n)
		}
		if !top.Allows(RoleWeb, RoleAPI, 8081) || top.Allows(RoleWeb, RoleDBPrimary, 5432) {
			t.Error("web must reach api and must not reach the database")
		}
		if z := zoneOf(top, RoleWeb); z[0] != "dmz" {
			t.Errorf("web in %v, want dmz", z)
		}
	})
	t.Run("arint spreads the integrators over both LANs", func(t *testing.T) {
		_, _, top := built(t, "arint.yaml", ex["arint.yaml"])
		got := fmt.Sprint(zoneOf(top, RoleIntegration))
		if !strings.Contains(got, "lan-a") || !strings.Contains(got, "lan-b") {
			t.Errorf("integration hosts in %s, want both LANs", got)
		}
	})
	t.Run("smarten-ha is an active-passive pair behind the switch", func(t *testing.T) {
		_, _, top := built(t, "smarten-ha.yaml", ex["smarten-ha.yaml"])
		if n := len(top.HostsByRole(RoleAPI)); n != 2 {
			t.Errorf("%d nodes, want a pair", n)
		}
		if !top.Allows(RoleFailover, RoleAPI, 8081) {
			t.Error("the failover switch must reach the nodes")
		}
	})
	t.Run("longjump runs reports on the replica", func(t *testing.T) {
		p, _, top := built(t, "longjump.yaml", ex["longjump.yaml"])
		m := p.Model()
		for _, tier := range m.Tiers {
			if tier.Role == "db-replica" && tier.Demand[sizing.ClassReport] == 0 {
				t.Error("db-replica has no report demand")
			}
			if tier.Role == "db-primary" && tier.Demand[sizing.ClassReport] != 0 {
				t.Error("db-primary still carries reports")
			}
		}
		for _, r := range []Role{RoleCache, RoleWorker, RoleDocStore} {
			if len(top.HostsByRole(r)) == 0 {
				t.Errorf("no %s hosts", r)
			}
		}
	})
}

// TestBuildAddresses checks the allocation rules: from .10, per zone, in
// plan order, inside the zone's range.
func TestBuildAddresses(t *testing.T) {
	_, _, top := built(t, "arint.yaml", examples(t)["arint.yaml"])
	next := map[string]netip.Addr{}
	prefix := map[string]netip.Prefix{}
	for _, z := range top.Zones {
		prefix[z.Name] = netip.MustParsePrefix(z.CIDR)
		a := prefix[z.Name].Addr().As4()
		a[3] = 10
		next[z.Name] = netip.AddrFrom4(a)
	}
	for _, h := range top.Hosts {
		if h.Address != next[h.Zone].String() {
			t.Errorf("%s has %s, want %s", h.Name, h.Address, next[h.Zone])
		}
		next[h.Zone] = next[h.Zone].Next()
		if h.Port != DefaultPort(h.Role) {
			t.Errorf("%s listens on %d, want %d", h.Name, h.Port, DefaultPort(h.Role))
		}
	}
}

func TestBuildZoneFull(t *testing.T) {
	p := NewPlan("full", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5})
	p.Zones[1].CIDR = "127.10.2.0/28" // .10 to .14: five hosts
	p.Tiers[1].Servers = 6
	_, err := Lay(p)
	e := asError(t, err)
	if e.Field != "zones[1].cidr" || e.Hint != "cidr: 127.10.2.0/27" {
		t.Errorf("got %q (hint %q)", e.Error(), e.Hint)
	}
}

func TestBuildEstimateForAnotherPlan(t *testing.T) {
	p := NewPlan("x", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5})
	est, err := sizing.Size(p.Model())
	if err != nil {
		t.Fatal(err)
	}
	est.Tiers = est.Tiers[:2]
	_, err = Build(p, est)
	if e := asError(t, err); !strings.Contains(e.Message, "db-primary") {
		t.Errorf("got %v", e)
	}
}

func TestBuildPlanLinks(t *testing.T) {
	p := NewPlan("x", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5})
	p.Links = []Link{{From: RoleETL, To: RoleAPI}, {From: RoleWeb, To: RoleAPI, Port: 8081}}
	l, err := Lay(p)
	if err != nil {
		t.Fatal(err)
	}
	top := l.Topology
	if !top.Allows(RoleETL, RoleAPI, 8081) {
		t.Error("the plan's extra link is missing, or its port was not filled")
	}
	n := 0
	for _, l := range top.Links {
		if l == (Link{RoleWeb, RoleAPI, 8081}) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("web -> api appears %d times, want once", n)
	}
}

func asError(t *testing.T, err error) *crmplan.Error {
	t.Helper()
	e, ok := err.(*crmplan.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a *crmplan.Error", err, err)
	}
	if e.Code != crmplan.EINVALID || e.Hint == "" {
		t.Errorf("error %q: code %q, hint %q; want EINVALID with a hint", e.Error(), e.Code, e.Hint)
	}
	return e
}
