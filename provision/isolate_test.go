package provision

import (
	"net/netip"
	"reflect"
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
