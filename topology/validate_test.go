package topology

import (
	"reflect"
	"strings"
	"testing"
)

// simple is seed 000's topology as Build makes it, for the rule tests.
func simple(t *testing.T) Topology {
	t.Helper()
	_, _, top := built(t, "simplecrm.yaml", examples(t)["simplecrm.yaml"])
	return top
}

func TestTopologyValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Topology)
		wantField string
		wantMsg   string
	}{
		{"DMZ host linked straight to the database", func(t *Topology) {
			t.Links = append(t.Links, Link{From: RoleWeb, To: RoleDBPrimary, Port: 5432})
		}, "links[9]", `link web -> db-primary:5432 lets web in the DMZ zone "dmz" reach db-primary directly`},
		{"DMZ host linked to the replica", func(t *Topology) {
			t.Links = append(t.Links, Link{From: RoleWeb, To: RoleDBReplica, Port: 5432})
		}, "links[9]", "reach db-replica directly"},
		{"the web tier linked to the marketing database", func(t *Topology) {
			t.Links = append(t.Links, Link{From: RoleWeb, To: RoleMarketingDB, Port: 5432})
		}, "links[9]", `lets web in the DMZ zone "dmz" reach marketing-db directly`},
		{"the marketing server linked to the CRM's database", func(t *Topology) {
			t.Links = append(t.Links, Link{From: RoleMarketing, To: RoleDBPrimary, Port: 5432})
		}, "links[9]", `lets marketing in the DMZ zone "dmz" reach db-primary directly`},
		{"an api host moved into the DMZ reaches the database", func(t *Topology) {
			t.Hosts[2].Zone, t.Hosts[2].Address = "dmz", "127.10.1.50"
		}, "links[1]", `lets api in the DMZ zone "dmz" reach db-primary`},
		{"link from a role without hosts", func(t *Topology) {
			t.Links = append(t.Links, Link{From: RoleWorker, To: RoleAPI, Port: 8081})
		}, "links[9].from", `no host has role "worker"`},
		{"link to a role without hosts", func(t *Topology) {
			t.Links = append(t.Links, Link{From: RoleAPI, To: RoleCache, Port: 11211})
		}, "links[9].to", `no host has role "cache"`},
		{"link to a port no one listens on", func(t *Topology) {
			t.Links[0].Port = 9999
		}, "links[0].port", "no api host listens on 9999"},
		{"duplicate host name", func(t *Topology) { t.Hosts[1].Name = "web-1" }, "hosts[1].name", `host "web-1" is defined twice`},
		{"duplicate address", func(t *Topology) { t.Hosts[3].Address = "127.10.2.10" }, "hosts[3].address", "like api-1"},
		{"address outside the zone", func(t *Topology) { t.Hosts[0].Address = "127.10.2.99" }, "hosts[0].address", "is not in zone dmz"},
		{"host in an unknown zone", func(t *Topology) { t.Hosts[0].Zone = "dmz2" }, "hosts[0].zone", `unknown zone "dmz2"`},
		{"host with an unknown role", func(t *Topology) { t.Hosts[0].Role = "webb" }, "hosts[0].role", `(did you mean "web"?)`},
		{"zone defined twice", func(t *Topology) { t.Zones = append(t.Zones, Zone{Name: "lan", Kind: LAN, CIDR: "127.10.9.0/24"}) },
			"zones[2].name", `zone "lan" is defined twice`},
		{"overlapping zones", func(t *Topology) { t.Zones[1].CIDR = "127.10.0.0/16" }, "zones[1].cidr", "overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := simple(t)
			tt.edit(&top)
			e := asError(t, top.Validate())
			if e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("got  %q: %q\nwant %q: ...%q...", e.Field, e.Message, tt.wantField, tt.wantMsg)
			}
		})
	}
	if err := simple(t).Validate(); err != nil {
		t.Errorf("the unedited topology: %v", err)
	}
}

func TestDMZDatabaseErrorTells(t *testing.T) {
	top := simple(t)
	top.Links = append(top.Links, Link{From: RoleWeb, To: RoleDBPrimary, Port: 5432})
	e := asError(t, top.Validate())
	if want := "links[9]: link web -> db-primary:5432 lets web in the DMZ zone \"dmz\" reach db-primary directly"; e.Error() != want {
		t.Errorf("got  %q\nwant %q", e.Error(), want)
	}
	if !strings.Contains(e.Hint, "web -> api:8081") {
		t.Errorf("hint %q does not say the way through the application tier", e.Hint)
	}
}

func TestAllows(t *testing.T) {
	top := simple(t)
	tests := []struct {
		from, to Role
		port     int
		want     bool
	}{
		{RoleWeb, RoleAPI, 8081, true},
		{RoleWeb, RoleAPI, 5432, false},
		{RoleAPI, RoleWeb, 8080, false}, // links have a direction
		{RoleWeb, RoleDBPrimary, 5432, false},
		{RoleAPI, RoleDBPrimary, 5432, true},
		{RoleAPI, RoleDBReplica, 5432, true},
		{RoleDBReplica, RoleDBPrimary, 5432, true}, // the standby opens the replication connection
		{RoleDBPrimary, RoleDBReplica, 5432, false},
		{RoleETL, RoleDBPrimary, 5432, true},
		{RoleETL, RoleDBReplica, 5432, false},
		{RoleIntegration, RoleAPI, 8081, true},
		// Seed 000's marketing server in the DMZ reaches its own database
		// and the CRM's api, and no other data: not the CRM's database.
		{RoleMarketing, RoleMarketingDB, 5432, true},
		{RoleMarketing, RoleAPI, 8081, true},
		{RoleMarketing, RoleDBPrimary, 5432, false},
		{RoleMarketing, RoleDBReplica, 5432, false},
		{RoleWeb, RoleMarketingDB, 5432, false},
		{RoleAPI, RoleMarketingDB, 5432, false},
	}
	for _, tt := range tests {
		if got := top.Allows(tt.from, tt.to, tt.port); got != tt.want {
			t.Errorf("Allows(%s, %s, %d) = %v, want %v", tt.from, tt.to, tt.port, got, tt.want)
		}
	}
}

func TestHostsByRole(t *testing.T) {
	top := simple(t)
	var names []string
	for _, h := range top.HostsByRole(RoleAPI) {
		names = append(names, h.Name)
	}
	if want := []string{"api-1", "api-2"}; !reflect.DeepEqual(names, want) {
		t.Errorf("api hosts %v, want %v", names, want)
	}
	if got := top.HostsByRole(RoleCache); got != nil {
		t.Errorf("cache hosts %v, want none", got)
	}
}

func TestDefaultLinks(t *testing.T) {
	tests := []struct {
		roles []Role
		want  []Link
	}{
		{[]Role{RoleFailover, RoleAPI}, []Link{{RoleFailover, RoleAPI, 8081}}},
		{[]Role{RoleFailover, RoleWeb, RoleAPI}, []Link{{RoleFailover, RoleWeb, 8080}, {RoleWeb, RoleAPI, 8081}}},
		{[]Role{RoleProxy, RoleWeb}, []Link{{RoleProxy, RoleWeb, 8080}}},
		{[]Role{RoleWeb}, nil},
	}
	for _, tt := range tests {
		if got := DefaultLinks(tt.roles); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DefaultLinks(%v) = %v, want %v", tt.roles, got, tt.want)
		}
	}
	for _, r := range Roles() {
		if DefaultPort(r) == 0 {
			t.Errorf("%s has no port", r)
		}
		for _, l := range DefaultLinks(Roles()) {
			if l.To.IsData() && (l.From == RoleWeb || l.From == RoleFailover || l.From == RoleProxy) {
				t.Errorf("default policy lets an entry role reach data: %v", l)
			}
		}
	}
}
