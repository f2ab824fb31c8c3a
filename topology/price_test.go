package topology

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCost(t *testing.T) {
	table := PriceTable{Currency: "USD", AsOf: "2025-01-01", Monthly: map[string]float64{
		"m6i.large": 70.08, "m6i.xlarge": 140.16, "r6i.xlarge": 183.96}}
	web := PricedHost{Name: "web-1", Role: RoleWeb, Instance: "m6i.large"}
	api1 := PricedHost{Name: "api-1", Role: RoleAPI, Instance: "m6i.xlarge"}
	api2 := PricedHost{Name: "api-2", Role: RoleAPI, Instance: "m6i.xlarge"}
	db := PricedHost{Name: "db-primary-1", Role: RoleDBPrimary, Instance: "r6i.xlarge"}
	tests := []struct {
		name     string
		planned  []PricedHost
		deployed []PricedHost
		want     CostChange
	}{
		{
			name:    "nothing deployed: every host is new",
			planned: []PricedHost{web, api1, db},
			want: CostChange{Planned: 394.2, Deployed: 0, Delta: 394.2,
				Tiers: []TierCost{
					{Role: RoleWeb, Servers: 1, Planned: 70.08, Delta: 70.08},
					{Role: RoleAPI, Servers: 1, Planned: 140.16, Delta: 140.16},
					{Role: RoleDBPrimary, Servers: 1, Planned: 183.96, Delta: 183.96}},
				Hosts: []HostChange{
					{Op: "+", Host: "web-1", Role: RoleWeb, Instance: "m6i.large", Delta: 70.08},
					{Op: "+", Host: "api-1", Role: RoleAPI, Instance: "m6i.xlarge", Delta: 140.16},
					{Op: "+", Host: "db-primary-1", Role: RoleDBPrimary, Instance: "r6i.xlarge", Delta: 183.96}}},
		},
		{
			name:     "one more app server",
			planned:  []PricedHost{web, api1, api2},
			deployed: []PricedHost{web, api1},
			want: CostChange{Planned: 350.4, Deployed: 210.24, Delta: 140.16,
				Tiers: []TierCost{
					{Role: RoleWeb, Servers: 1, Planned: 70.08, Deployed: 70.08},
					{Role: RoleAPI, Servers: 2, Planned: 280.32, Deployed: 140.16, Delta: 140.16}},
				Hosts: []HostChange{{Op: "+", Host: "api-2", Role: RoleAPI, Instance: "m6i.xlarge", Delta: 140.16}}},
		},
		{
			name:     "a smaller instance and a removed host",
			planned:  []PricedHost{{Name: "api-1", Role: RoleAPI, Instance: "m6i.large"}},
			deployed: []PricedHost{api1, api2},
			want: CostChange{Planned: 70.08, Deployed: 280.32, Delta: -210.24,
				Tiers: []TierCost{{Role: RoleAPI, Servers: 1, Planned: 70.08, Deployed: 280.32, Delta: -210.24}},
				Hosts: []HostChange{
					{Op: "~", Host: "api-1", Role: RoleAPI, Instance: "m6i.large", Was: "m6i.xlarge", Delta: -70.08},
					{Op: "-", Host: "api-2", Role: RoleAPI, Instance: "m6i.xlarge", Delta: -140.16}}},
		},
		{
			name:     "no change",
			planned:  []PricedHost{web},
			deployed: []PricedHost{web},
			want: CostChange{Planned: 70.08, Deployed: 70.08,
				Tiers: []TierCost{{Role: RoleWeb, Servers: 1, Planned: 70.08, Deployed: 70.08}}},
		},
		{
			name:    "a type the table lacks counts 0 and is named",
			planned: []PricedHost{{Name: "api-1", Role: RoleAPI, Instance: "x9.huge"}},
			want: CostChange{Tiers: []TierCost{{Role: RoleAPI, Servers: 1}},
				Hosts:    []HostChange{{Op: "+", Host: "api-1", Role: RoleAPI, Instance: "x9.huge"}},
				Unpriced: []string{"x9.huge"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Cost(table, "test", tt.planned, tt.deployed)
			tt.want.Currency, tt.want.Source, tt.want.AsOf = "USD", "test", "2025-01-01"
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Cost =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestPricedHostsMatchReport checks that a laid example prices every host
// with the instance types a plan names or DefaultInstance picks from the
// estimate's cores: the types the report prices and the cloud targets launch.
func TestPricedHostsMatchReport(t *testing.T) {
	path := filepath.Join("..", "examples", "simplecrm.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePlan(path, data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Lay(p)
	if err != nil {
		t.Fatal(err)
	}
	cores := map[string]int{}
	for _, tr := range l.Estimate.Tiers {
		cores[tr.Role] = tr.Cores
	}
	hosts := l.PricedHosts()
	if len(hosts) != len(l.Topology.Hosts) {
		t.Fatalf("%d priced hosts for %d hosts", len(hosts), len(l.Topology.Hosts))
	}
	for _, h := range hosts {
		want := DefaultInstance(h.Role, cores[string(h.Role)])
		for _, tier := range p.Tiers {
			if tier.Role == string(h.Role) && tier.Instance != "" {
				want = tier.Instance
			}
		}
		if h.Instance != want {
			t.Errorf("%s: instance %s, want %s", h.Name, h.Instance, want)
		}
	}
}
