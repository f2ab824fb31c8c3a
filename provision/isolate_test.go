package provision

import (
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/loopback"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/topology"
)

// anyRange is a netns target that accepts every range, for layouts
// computed without root.
type anyRange struct{ loopback.Target }

func (anyRange) Name() string                          { return netns.Name }
func (anyRange) CheckRange(string, netip.Prefix) error { return nil }
func (anyRange) Nodes(target.Host) target.NodeLauncher { return nil }

func TestIsolatedNetwork(t *testing.T) {
	topo := isolatedTopology(topology.Topology{
		Zones: []topology.Zone{{Name: "dmz", Kind: topology.DMZ, CIDR: "127.10.1.0/24"}, {Name: "lan", Kind: topology.LAN, CIDR: "127.10.2.0/24"}},
		Hosts: []topology.Host{
			{Name: "web-1", Role: topology.RoleWeb, Zone: "dmz", Address: "127.10.1.10"},
			{Name: "api-1", Role: topology.RoleAPI, Zone: "lan", Address: "127.10.2.10"},
			{Name: "db-primary-1", Role: topology.RoleDBPrimary, Zone: "lan", Address: "127.10.2.11"},
		},
		Links: []topology.Link{{From: topology.RoleWeb, To: topology.RoleAPI, Port: 8081}, {From: topology.RoleAPI, To: topology.RoleDBPrimary, Port: 5432}},
	})
	if got := topo.Zones[1].CIDR + " " + topo.Hosts[2].Address; got != "10.10.2.0/24 10.10.2.11" {
		t.Fatalf("isolated topology: lan and db at %s, want 10.10.2.0/24 10.10.2.11", got)
	}
	l, err := NewLayout(LayoutInput{Paths: stackdir.Paths{StateDir: "/s", Stack: "crm"}, Topology: topo, Target: anyRange{}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := isolatedNetwork(l)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, r := range n.Policy {
		rules = append(rules, r.String())
	}
	want := []string{
		"10.10.1.10/32 -> 10.10.2.10:8081",  // web -> api
		"10.10.2.10/32 -> 10.10.2.11:5432",  // api -> db
		"machine -> 10.10.1.10:27199",       // the controller -> the relay
		"10.10.2.10/32 -> 10.10.1.10:27199", // LAN nodes -> the relay
		"10.10.2.11/32 -> 10.10.1.10:27199",
		"machine -> 10.10.1.10:8080", // the DMZ's published port
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("policy:\n got %q\nwant %q", rules, want)
	}
	zones := []netns.Zone{{Name: "dmz", CIDR: netip.MustParsePrefix("10.10.1.0/24"), Outside: true}, {Name: "lan", CIDR: netip.MustParsePrefix("10.10.2.0/24")}}
	if !reflect.DeepEqual(n.Zones, zones) {
		t.Errorf("zones: got %+v, want %+v", n.Zones, zones)
	}
	if got, want := allowCIDRs(l), []string{"10.10.2.0/24", "127.0.0.0/8"}; !reflect.DeepEqual(got, want) {
		t.Errorf("allowCIDRs: got %v, want %v", got, want)
	}
	inv := l.inventory("", nil, nil)
	if inv.Hosts[0].MetricsURL == "" || inv.Hosts[1].MetricsURL != "" {
		t.Errorf("metrics: only the DMZ's hosts are scraped from this machine, got %+v", inv.Hosts)
	}
	l.Target = loopback.Name
	if got := allowCIDRs(l); got != nil {
		t.Errorf("allowCIDRs on loopback: got %v, want none (pgserver's default)", got)
	}
}

// TestIsolatedMarketing: seed 000's marketing server in the DMZ reaches
// its own database in the LAN and the api servers, as the links say, and
// nothing in the DMZ reaches any other data: the router's rules of the
// isolated stack of examples/simplecrm.yaml, and the databases' pg_hba
// ranges.
func TestIsolatedMarketing(t *testing.T) {
	laid := laidExample(t, "simplecrm.yaml")
	l, err := NewLayout(LayoutInput{Paths: stackdir.Paths{StateDir: "/s", Stack: "simplecrm"}, Topology: isolatedTopology(laid.Topology), Target: anyRange{}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := isolatedNetwork(l)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[[2]string]bool{} // from host, to host:port
	names := map[string]string{}
	for _, h := range l.Hosts {
		names[h.Address] = h.Name
	}
	for _, r := range n.Policy {
		if r.From.IsValid() {
			allowed[[2]string{names[r.From.Addr().String()], fmt.Sprintf("%s:%d", names[r.To.String()], r.Port)}] = true
		}
	}
	tests := []struct {
		from, to string
		want     bool
	}{
		{"marketing-1", "marketing-db-1:5432", true},
		{"marketing-1", "api-1:8081", true},
		{"marketing-1", "db-primary-1:5432", false},
		{"marketing-1", "db-replica-1:5432", false},
		{"web-1", "marketing-db-1:5432", false},
		{"web-2", "marketing-db-1:5432", false},
		{"web-1", "db-primary-1:5432", false},
		{"web-1", "db-replica-1:5432", false},
		{"api-1", "marketing-db-1:5432", false},
		{"web-1", "api-1:8081", true},
	}
	if len(l.ByRole(topology.RoleMarketing)) != 1 || len(l.ByRole(topology.RoleMarketingDB)) != 1 {
		t.Fatalf("simplecrm.yaml: %d marketing and %d marketing-db hosts, want one each", len(l.ByRole(topology.RoleMarketing)), len(l.ByRole(topology.RoleMarketingDB)))
	}
	for _, tt := range tests {
		if got := allowed[[2]string{tt.from, tt.to}]; got != tt.want {
			t.Errorf("router allows %s -> %s: %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
	// pg_hba: the marketing database takes the DMZ's marketing server (and
	// its own range); the CRM's takes no DMZ range at all.
	dmz := l.ByRole(topology.RoleWeb)[0].CIDR
	if got := allowCIDRsTo(l, topology.RoleMarketingDB); !slices.Contains(got, dmz) {
		t.Errorf("marketing-db's pg_hba ranges %v lack the DMZ's %s, where the marketing server is", got, dmz)
	}
	if got := allowCIDRs(l); slices.Contains(got, dmz) {
		t.Errorf("the CRM database's pg_hba ranges %v include the DMZ's %s", got, dmz)
	}
}

// laidExample decodes and lays out the plan of examples/name.
func laidExample(t testing.TB, name string) topology.Laid {
	t.Helper()
	data, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.DecodePlan(name, data)
	if err != nil {
		t.Fatal(err)
	}
	laid, err := topology.Lay(plan)
	if err != nil {
		t.Fatal(err)
	}
	return laid
}
