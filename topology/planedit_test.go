package topology

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// halved is what a calibration that found web, api and the primary twice
// as fast as modelled asks of a plan: those tiers, where the plan has them,
// in full with every demand halved.
func halved(t *testing.T, name string, data []byte) map[int]sizing.TierSpec {
	t.Helper()
	p, err := DecodePlan(name, data)
	if err != nil {
		t.Fatal(err)
	}
	m := p.Model()
	specs := map[int]sizing.TierSpec{}
	for i, spec := range m.Tiers {
		switch spec.Role {
		case "web", "api", "db-primary":
			d := map[sizing.Class]float64{}
			for c, v := range spec.Demand {
				d[c] = math.Round(v/2*1000) / 1000
			}
			spec.Demand = d
			specs[i] = spec
		}
	}
	return specs
}

// EditDemands on every seed example: the result is golden, decodes to the
// asked demands with every other field of the model unchanged, and keeps
// every comment line and every line outside the edited tiers' demands.
func TestEditDemandsExamples(t *testing.T) {
	for name, data := range examples(t) {
		t.Run(name, func(t *testing.T) {
			specs := halved(t, name, data)
			out, err := EditDemands(name, data, specs)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "calibrate/"+name, out)
			before, _ := DecodePlan(name, data)
			after, err := DecodePlan(name, out)
			if err != nil {
				t.Fatal(err)
			}
			mb, ma := before.Model(), after.Model()
			for i := range mb.Tiers {
				if spec, ok := specs[i]; ok {
					mb.Tiers[i].Demand = spec.Demand
				}
			}
			if !equalModels(mb, ma) {
				t.Errorf("model changed beyond the demands:\nbefore %+v\nafter  %+v", mb, ma)
			}
			// Every original line is still there, in order, except the
			// demand_ms lines the edit rewrote.
			outLines := strings.Split(string(out), "\n")
			j := 0
			for _, line := range strings.Split(string(data), "\n") {
				k := j
				for k < len(outLines) && outLines[k] != line {
					k++
				}
				if k == len(outLines) {
					if !strings.Contains(line, "demand_ms") {
						t.Errorf("line lost: %q", line)
					}
					continue
				}
				j = k + 1
			}
		})
	}
}

func equalModels(a, b sizing.Model) bool {
	if a.Workload.NamedUsers != b.Workload.NamedUsers || !reflect.DeepEqual(a.SLO, b.SLO) || a.Database != b.Database || len(a.Tiers) != len(b.Tiers) {
		return false
	}
	for i := range a.Tiers {
		x, y := a.Tiers[i], b.Tiers[i]
		if x.Role != y.Role || x.HA != y.HA || x.Min != y.Min || x.MaxServers != y.MaxServers || x.Cores != y.Cores ||
			x.Servers != y.Servers || x.Visit != y.Visit || len(x.Demand) != len(y.Demand) {
			return false
		}
		for c, v := range x.Demand {
			if y.Demand[c] != v {
				return false
			}
		}
	}
	return true
}

// The shapes a tier's demands come in, edited in place.
func TestEditDemandsShapes(t *testing.T) {
	head := "name: x\nworkload: {named_users: 100, concurrency: 1, tpm: 5}\nzones:\n  - {name: lan, kind: lan, cidr: 127.10.2.0/24}\ntiers:\n"
	tests := []struct {
		name, tiers string
		demand      map[sizing.Class]float64
		want        string
	}{
		{"flow demands", "  - role: api\n    zone: lan\n    demand_ms: {list: 12, view: 8} # measured\n",
			map[sizing.Class]float64{sizing.ClassList: 6, sizing.ClassView: 4.5},
			"  - role: api\n    zone: lan\n    demand_ms: {list: 6, view: 4.5} # measured\n"},
		{"block demands, quoted, a class added", "  - role: api\n    zone: lan\n    demand_ms:\n      list: \"12\"\n      view: 8\n",
			map[sizing.Class]float64{sizing.ClassList: 6, sizing.ClassView: 4, sizing.ClassWrite: 1},
			"  - role: api\n    zone: lan\n    demand_ms:\n      list: 6\n      view: 4\n      write: 1\n"},
		{"flow tier without demands: ha kept", "  - {role: api, zone: lan}\n",
			map[sizing.Class]float64{sizing.ClassList: 6},
			"  - {role: api, zone: lan, demand_ms: {list: 6}, ha: true}\n"},
		{"block tier without demands, last line unterminated", "  - role: web\n    zone: lan",
			map[sizing.Class]float64{sizing.ClassList: 0.5},
			"  - role: web\n    zone: lan\n    demand_ms: {list: 0.5}\n    ha: true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(head + tt.tiers)
			p, err := DecodePlan("x.yaml", data)
			if err != nil {
				t.Fatal(err)
			}
			spec := p.Model().Tiers[0]
			spec.Demand = tt.demand
			out, err := EditDemands("x.yaml", data, map[int]sizing.TierSpec{0: spec})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimPrefix(string(out), head); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestEditDemandsRejects(t *testing.T) {
	data := []byte("name: x\nworkload: {named_users: 100, concurrency: 1, tpm: 5}\nzones:\n  - {name: lan, kind: lan, cidr: 127.10.2.0/24}\ntiers:\n  - {role: api, zone: lan}\n")
	tests := []struct {
		name  string
		data  []byte
		specs map[int]sizing.TierSpec
	}{
		{"no such tier", data, map[int]sizing.TierSpec{3: {Role: "api"}}},
		{"not a plan", []byte("tiers: [1"), map[int]sizing.TierSpec{0: {Role: "api"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EditDemands("x.yaml", tt.data, tt.specs)
			var e *crmplan.Error
			if !errors.As(err, &e) || e.Code != crmplan.EINVALID || e.Hint == "" {
				t.Errorf("error %v, want EINVALID with a hint", err)
			}
		})
	}
}

// The shapes a workload comes in, its delay_ms added or edited in place,
// and every seed example: only the workload's delay line changes and the
// model decodes with the delays and nothing else different.
func TestEditDelays(t *testing.T) {
	rest := "zones:\n  - {name: lan, kind: lan, cidr: 127.10.2.0/24}\ntiers:\n  - {role: api, zone: lan}\n"
	delay := map[sizing.Class]float64{sizing.ClassList: 1.25, sizing.ClassIntegration: 3.4, sizing.ClassReport: 0}
	tests := []struct {
		name, workload, want string
	}{
		{"flow workload", "workload: {named_users: 100, concurrency: 1, tpm: 5} # the business\n",
			"workload: {named_users: 100, concurrency: 1, tpm: 5, delay_ms: {list: 1.25, report: 0, integration: 3.4}} # the business\n"},
		{"block workload", "workload:\n  named_users: 100 # users\n  concurrency: 1\n  tpm: 5\n",
			"workload:\n  named_users: 100 # users\n  concurrency: 1\n  tpm: 5\n  delay_ms: {list: 1.25, report: 0, integration: 3.4}\n"},
		{"delays already there, one added", "workload:\n  named_users: 100\n  concurrency: 1\n  tpm: 5\n  delay_ms:\n    list: 9 # measured\n    report: 2\n",
			"workload:\n  named_users: 100\n  concurrency: 1\n  tpm: 5\n  delay_ms:\n    list: 1.25 # measured\n    report: 0\n    integration: 3.4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := EditDelays("x.yaml", []byte("name: x\n"+tt.workload+rest), delay)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSuffix(strings.TrimPrefix(string(out), "name: x\n"), rest); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	for name, data := range examples(t) {
		t.Run(name, func(t *testing.T) {
			out, err := EditDelays(name, data, delay)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := DecodePlan(name, data)
			after, err := DecodePlan(name, out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after.Workload.DelayMs, delay) {
				t.Errorf("delays %v, want %v", after.Workload.DelayMs, delay)
			}
			after.Workload.DelayMs = before.Workload.DelayMs
			if !reflect.DeepEqual(before, after) {
				t.Errorf("plan changed beyond the delays:\nbefore %+v\nafter  %+v", before, after)
			}
			if n, m := strings.Count(string(data), "\n"), strings.Count(string(out), "\n"); m-n > 1 {
				t.Errorf("%d lines became %d", n, m)
			}
		})
	}
	bad := "name: x\nworkload: {named_users: 100, concurrency: 1, tpm: 5, delay_ms: 3}\n" + rest
	var e *crmplan.Error
	if _, err := EditDelays("x.yaml", []byte(bad), delay); !errors.As(err, &e) || e.Code != crmplan.EINVALID || e.Hint == "" {
		t.Errorf("delay_ms not a mapping: %v, want EINVALID with a hint", err)
	}
}

// EditSCV writes workload.service_scv as EditDelays writes delay_ms: in
// place when the file has it (its comment kept), after the workload's
// last key when not, in the workload's style; 0 (the exponential) adds
// nothing, and where the file has a number it becomes 1.
func TestEditSCV(t *testing.T) {
	rest := "zones:\n  - {name: lan, kind: lan, cidr: 127.10.2.0/24}\ntiers:\n  - {role: api, zone: lan}\n"
	tests := []struct {
		name, workload string
		scv            float64
		want           string
	}{
		{"flow workload", "workload: {named_users: 100, concurrency: 1, tpm: 5} # the business\n", 0.25,
			"workload: {named_users: 100, concurrency: 1, tpm: 5, service_scv: 0.25} # the business\n"},
		{"block workload", "workload:\n  named_users: 100 # users\n  concurrency: 1\n  tpm: 5\n", 0.0625,
			"workload:\n  named_users: 100 # users\n  concurrency: 1\n  tpm: 5\n  service_scv: 0.0625\n"},
		{"replaced in place", "workload:\n  named_users: 100\n  service_scv: 0.5 # fitted\n  concurrency: 1\n  tpm: 5\n", 0.3333,
			"workload:\n  named_users: 100\n  service_scv: 0.3333 # fitted\n  concurrency: 1\n  tpm: 5\n"},
		{"exponential, not there", "workload: {named_users: 100, concurrency: 1, tpm: 5}\n", 0,
			"workload: {named_users: 100, concurrency: 1, tpm: 5}\n"},
		{"exponential, there", "workload: {named_users: 100, concurrency: 1, tpm: 5, service_scv: 0.2}\n", 0,
			"workload: {named_users: 100, concurrency: 1, tpm: 5, service_scv: 1}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := EditSCV("x.yaml", []byte("name: x\n"+tt.workload+rest), tt.scv)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSuffix(strings.TrimPrefix(string(out), "name: x\n"), rest); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	bad := "name: x\nworkload: [100]\n" + rest
	var e *crmplan.Error
	if _, err := EditSCV("x.yaml", []byte(bad), 0.5); !errors.As(err, &e) || e.Code != crmplan.EINVALID || e.Hint == "" {
		t.Errorf("workload not a mapping: %v, want EINVALID with a hint", err)
	}
}
