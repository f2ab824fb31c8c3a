package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

func layExample(t *testing.T, name string) topology.Laid {
	t.Helper()
	plan, err := readPlan(filepath.Join("..", "..", "examples", name+".yaml"), "test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := topology.Lay(plan)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestPlanCostAgainstInventory prices seed 000 against inventories apply
// could have left: nothing, the same hosts, one api server fewer, and the
// api tier on smaller machines.
func TestPlanCostAgainstInventory(t *testing.T) {
	l := layExample(t, "simplecrm")
	inst := l.Instances()
	inventory := func(drop string, override map[string]string) stackdir.Inventory {
		inv := stackdir.Inventory{Stack: "simplecrm", Target: "local"}
		for _, h := range l.Topology.Hosts {
			if h.Name == drop {
				continue
			}
			i := inst[h.Role]
			if o, ok := override[h.Name]; ok {
				i = o
			}
			inv.Hosts = append(inv.Hosts, stackdir.InventoryHost{Name: h.Name, Role: string(h.Role), Instance: i})
		}
		return inv
	}
	api := inst[topology.RoleAPI]
	apiPrice := topology.DefaultPrices().Monthly[api]
	tests := []struct {
		name      string
		inv       *stackdir.Inventory
		wantDelta float64 // 0 with nothing deployed means: the whole plan
		wantLines []string
	}{
		{name: "nothing deployed", wantLines: []string{"+ $140.16/month: api-1 " + api, "+ $140.16/month: api-2 " + api}},
		{name: "deployed as planned", inv: ptr(inventory("", nil))},
		{name: "one api server more", inv: ptr(inventory("api-2", nil)), wantDelta: apiPrice,
			wantLines: []string{"+ $140.16/month: api-2 " + api}},
		{name: "api servers grow", inv: ptr(inventory("", map[string]string{"api-1": "m6i.large", "api-2": "m6i.large"})),
			wantDelta: 2 * (apiPrice - 70.08),
			wantLines: []string{"+ $70.08/month: api-1 m6i.large -> " + api, "+ $70.08/month: api-2 m6i.large -> " + api}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			if tt.inv != nil {
				if err := stackdir.SaveInventory(state, *tt.inv); err != nil {
					t.Fatal(err)
				}
			}
			c, err := planCost(l, state, "simplecrm")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.wantDelta
			if tt.inv == nil {
				want = c.Planned
			}
			if c.Planned <= 0 || math.Abs(c.Delta-want) > 0.005 || math.Abs(c.Planned-c.Deployed-c.Delta) > 0.005 {
				t.Errorf("planned %.2f deployed %.2f delta %.2f; want delta %.2f", c.Planned, c.Deployed, c.Delta, want)
			}
			var out bytes.Buffer
			printCost(&out, c)
			for _, line := range tt.wantLines {
				if !strings.Contains(out.String(), line) {
					t.Errorf("no %q in\n%s", line, out.String())
				}
			}
			if tt.inv != nil && len(tt.wantLines) == 0 && len(c.Hosts) != 0 {
				t.Errorf("no change wanted, got host lines %+v", c.Hosts)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestSizeCostIsTheReportsCost checks, for every example, that size's
// monthly total is the report's: one price table, one set of instance types.
func TestSizeCostIsTheReportsCost(t *testing.T) {
	for _, name := range []string{"simplecrm", "longjump", "arint", "client-server", "smarten-ha"} {
		t.Run(name, func(t *testing.T) {
			plan := filepath.Join("..", "..", "examples", name+".yaml")
			code, stdout, stderr := crmplanRun(t, "size", "--plan", plan, "--output", "json")
			if code != exitOK {
				t.Fatalf("size: exit %d: %s", code, stderr)
			}
			var size struct{ Cost sizeCost }
			if err := json.Unmarshal([]byte(stdout), &size); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			if code, _, stderr := crmplanRun(t, "report", "--plan", plan, "--state-dir", t.TempDir(), "--out", out); code != exitOK {
				t.Fatalf("report: exit %d: %s", code, stderr)
			}
			r := readReportJSON(t, out)
			if size.Cost.Monthly <= 0 || math.Abs(size.Cost.Monthly-r.Summary.MonthlyCost) > 0.005 {
				t.Errorf("size says %.2f a month, the report %.2f", size.Cost.Monthly, r.Summary.MonthlyCost)
			}
		})
	}
}
