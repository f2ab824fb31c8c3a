package topology

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// base is a small valid plan; the error cases edit one line of it.
const base = `name: demo
workload:
  named_users: 3000
  concurrency: 60%
  tpm: 5
  records: 25M
zones:
  - {name: dmz, kind: dmz, cidr: 127.10.1.0/24}
  - {name: lan, kind: lan, cidr: 127.10.2.0/24}
tiers:
  - role: web
    zone: dmz
  - role: api
    zone: lan
    min: 2
  - role: db-primary
    zone: lan
links:
  - {from: web, to: api}
`

func TestDecodePlanErrors(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string // replace old by new in base; old "" appends new
		wantField string
		wantMsg   string
	}{
		{"isolate not a bool", "name: demo", "name: demo\nisolate: yes please",
			"plan.yaml:2: isolate", `"yes please" is not true or false`},
		{"typo'd key", "  named_users: 3000", "  named_user: 3000",
			"plan.yaml:3: workload.named_user", `unknown field "named_user" (did you mean "named_users"?)`},
		{"unknown top-level key", "name: demo", "name: demo\nflavour: x",
			"plan.yaml:2: flavour", `unknown field "flavour"`},
		{"bad percent", "60%", "sixty%",
			"plan.yaml:4: workload.concurrency", `"sixty%" is not a share`},
		{"bare number above one", "60%", "60",
			"plan.yaml:4: workload.concurrency", `"60" is above 1`},
		{"concurrency above 100%", "60%", "120%",
			"plan.yaml:4: workload.concurrency", "at most 100%, got 120%"},
		{"negative users", "named_users: 3000", "named_users: -5",
			"plan.yaml:3: workload.named_users", "must be above 0, got -5"},
		{"zero users", "named_users: 3000", "named_users: 0",
			"plan.yaml:3: workload.named_users", "must be above 0, got 0"},
		{"service scv of 0", "records: 25M", "records: 25M\n  service_scv: 0",
			"plan.yaml:7: workload.service_scv", "above 0 and at most 1, got 0"},
		{"service scv above 1", "records: 25M", "records: 25M\n  service_scv: 1.5",
			"plan.yaml:7: workload.service_scv", "above 0 and at most 1, got 1.5"},
		{"service scv not a number", "records: 25M", "records: 25M\n  service_scv: low",
			"plan.yaml:7: workload.service_scv", `"low" is not a number`},
		{"records not a number", "records: 25M", "records: lots",
			"plan.yaml:6: workload.records", `"lots" is not a count`},
		{"records not whole", "records: 25M", "records: 1.2345k",
			"plan.yaml:6: workload.records", "not a whole number"},
		{"unknown role", "role: api", "role: apii",
			"plan.yaml:13: tiers[1].role", `unknown role "apii" (did you mean "api"?)`},
		{"unknown zone", "zone: lan\n    min", "zone: lam\n    min",
			"plan.yaml:14: tiers[1].zone", `unknown zone "lam" (did you mean "lan"?)`},
		{"DMZ linked to the database", "", "  - {from: web, to: db-primary}\n",
			"plan.yaml:20: links[1]", "link web -> db-primary:5432 lets web in the DMZ zone \"dmz\" reach db-primary directly"},
		{"unknown database engine", "role: db-primary\n    zone: lan", "role: db-primary\n    zone: lan\n    database: rdss",
			"plan.yaml:18: tiers[2].database", `unknown database "rdss": use postgres (crmplan's PostgreSQL on the hosts) or rds (AWS RDS, on --target aws) (did you mean "rds"?)`},
		{"database on an app tier", "    min: 2", "    min: 2\n    database: rds",
			"plan.yaml:16: tiers[1].database", "only a database tier runs on a database engine"},
		{"database in the DMZ", "role: db-primary\n    zone: lan", "role: db-primary\n    zone: dmz",
			"plan.yaml:17: tiers[2].zone", "may not live in the DMZ"},
		{"link to a missing tier", "to: api}", "to: cache}",
			"plan.yaml:19: links[0].to", `no tier has role "cache"`},
		{"link on the wrong port", "to: api}", "to: api, port: 80}",
			"plan.yaml:19: links[0].port", "api hosts listen on 8081, not 80"},
		{"per-class SLO of an unknown class", "name: demo", "name: demo\nslo: {p95_ms: 500, classes: {reports: {p95_ms: 1000}}}",
			"plan.yaml:2: slo.classes.reports", `unknown field "reports" (did you mean "report"?)`},
		{"per-class SLO without a p95", "name: demo", "name: demo\nslo: {p95_ms: 500, classes: {report: {}}}",
			"plan.yaml:2: slo.classes.report.p95_ms", "needs a p95_ms above 0, in milliseconds, got 0"},
		{"per-class SLO not a number", "name: demo", "name: demo\nslo: {p95_ms: 500, classes: {report: {p95_ms: slow}}}",
			"plan.yaml:2: slo.classes.report.p95_ms", `"slow" is not a number`},
		{"per-class SLO a bare number", "name: demo", "name: demo\nslo: {p95_ms: 500, classes: {report: 1000}}",
			"plan.yaml:2: slo.classes.report", "must be a mapping"},
		{"duplicate key", "  tpm: 5", "  tpm: 5\n  tpm: 6",
			"plan.yaml:6: workload.tpm", `"tpm" is given twice`},
		{"duplicate role", "role: db-primary", "role: api",
			"plan.yaml:16: tiers[2].role", `role "api" is already tiers[1]'s`},
		{"overlapping zones", "127.10.2.0/24", "127.10.1.0/25",
			"plan.yaml:9: zones[1].cidr", "overlaps zone \"dmz\""},
		{"cidr not a network", "127.10.2.0/24", "127.10.2.7/24",
			"plan.yaml:9: zones[1].cidr", "not a network address"},
		{"unknown zone kind", "kind: lan", "kind: lna",
			"plan.yaml:9: zones[1].kind", `unknown zone kind "lna": use dmz, lan or outside (did you mean "lan"?)`},
		{"wrong shape", "  min: 2", "  min: [2]",
			"plan.yaml:15: tiers[1].min", "must be a single value"},
		{"value missing", "  tpm: 5", "  tpm:",
			"plan.yaml:5: workload.tpm", "needs a value"},
		{"tiers not a list", "tiers:\n", "tiers: web\nx:\n",
			"plan.yaml:10: tiers", "tiers must be a list"},
		// yaml.v3 reports the line of the context it was parsing (the flow
		// sequence, the enclosing mapping) rather than of the offending
		// character; the place is the parser's.
		{"yaml syntax", "  tpm: 5", "  tpm: [5",
			"plan.yaml:4", "not valid YAML: did not find expected ',' or ']'"},
		{"yaml scanner error", "  tpm: 5", "  tpm: 5\n\tx: 1",
			"plan.yaml:5", "not valid YAML: found a tab character that violates indentation"},
		{"second document", "", "---\nname: other\n",
			"plan.yaml:20", "one YAML document"},
		{"sizing check placed too", "  min: 2", "  min: 2\n    visit: 150%",
			"plan.yaml:16: tiers[1].visit", "must be a share of requests in (0, 1]"},
		{"unknown request class", "  tpm: 5", "  tpm: 5\n  mix: {list: 50%, veiw: 50%}",
			"plan.yaml:6: workload.mix.veiw", `unknown field "veiw" (did you mean "view"?)`},
		{"two primaries", "role: db-primary\n    zone: lan", "role: db-primary\n    zone: lan\n    servers: 2",
			"plan.yaml:16: tiers[2]", "a PostgreSQL primary is one server"},
		{"bad name", "name: demo", "name: Demo Plan",
			"plan.yaml:1: name", "is not a plan name"},
		{"failover on the primary", "role: db-primary\n    zone: lan", "role: db-primary\n    zone: lan\n    failover: automatic",
			"plan.yaml:18: tiers[2].failover", "only a db-replica tier fails over"},
		{"load generator in the LAN", "links:", "  - role: loadgen\n    zone: lan\nlinks:",
			"plan.yaml:19: tiers[3].zone", `a load generator belongs in a zone of kind outside, not the lan zone "lan"`},
		{"unknown target", "name: demo", "name: demo\ntarget: gcp",
			"plan.yaml:2: target", `unknown target "gcp" (want local or ssh)`},
		{"ssh target without an inventory", "name: demo", "name: demo\ntarget: ssh",
			"plan.yaml:2: target", "the ssh target needs an inventory"},
		{"an inventory on the local target", "name: demo", "name: demo\ninventory: machines.yaml",
			"plan.yaml:2: inventory", "an inventory lists machines of the ssh target"},
		{"typo'd failover", "links:", "  - role: db-replica\n    zone: lan\n    failover: automatc\nlinks:",
			"plan.yaml:20: tiers[3].failover", `unknown failover "automatc": use manual or automatic (did you mean "automatic"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base + tt.new
			if tt.old != "" {
				if !strings.Contains(base, tt.old) {
					t.Fatalf("base has no %q", tt.old)
				}
				src = strings.Replace(base, tt.old, tt.new, 1)
			}
			p, err := DecodePlan("plan.yaml", []byte(src))
			if err == nil {
				t.Fatalf("decoded %+v, want an error", p)
			}
			e := asError(t, err)
			if e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("got  %q: %q\nwant %q: ...%q...", e.Field, e.Message, tt.wantField, tt.wantMsg)
			}
			if strings.Contains(e.Error(), "\n") || strings.Contains(e.Hint, "\n") {
				t.Errorf("error or hint is not one line: %q, %q", e.Error(), e.Hint)
			}
		})
	}
}

func TestDecodePlanEmpty(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n"} {
		_, err := DecodePlan("p.yaml", []byte(src))
		if e := asError(t, err); e.Field != "p.yaml" || !strings.Contains(e.Message, "empty") {
			t.Errorf("%q: got %v", src, e)
		}
	}
}

// TestDecodeHumanValues checks that the human forms of a value decode to
// the same plan as the plain one.
func TestDecodeHumanValues(t *testing.T) {
	want, err := DecodePlan("p.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range [][2]string{
		{"60%", "0.6"}, {"60%", `"60 %"`}, {"25M", "25000000"}, {"25M", "2.5e7"},
		{"25M", "25_000_000"}, {"named_users: 3000", "named_users: 3k"},
	} {
		got, err := DecodePlan("p.yaml", []byte(strings.Replace(base, edit[0], edit[1], 1)))
		if err != nil {
			t.Errorf("%s: %v", edit[1], err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decoded %+v, want %+v", edit[1], got.Workload, want.Workload)
		}
	}
}

func TestDecodeAliases(t *testing.T) {
	src := strings.Replace(base, "  - role: web\n    zone: dmz", "  - role: web\n    zone: &front dmz", 1)
	src = strings.Replace(src, "{name: dmz, kind: dmz", "{name: dmz, kind: dmz", 1)
	src = strings.Replace(src, "  - {from: web, to: api}", "  - {from: web, to: api}\n  - {from: integration, to: api}", 1)
	if _, err := DecodePlan("p.yaml", []byte(src)); err == nil {
		t.Fatal("a link from a missing tier decoded")
	}
	ok := strings.Replace(base, "cidr: 127.10.1.0/24}", "cidr: &dmzcidr 127.10.1.0/24}", 1)
	ok = strings.Replace(ok, "    zone: dmz", "    zone: dmz\n    instance: *dmzcidr", 1)
	p, err := DecodePlan("p.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if p.Tiers[0].Instance != "127.10.1.0/24" {
		t.Errorf("alias read as %q", p.Tiers[0].Instance)
	}
}

// TestRoundTrip encodes every example and NewPlan's plan and decodes the
// result to the same plan; encoding is stable byte for byte.
func TestRoundTrip(t *testing.T) {
	plans := map[string]*Plan{
		"newplan": NewPlan("newplan", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Records: 25_000_000, Growth: 0.2, Years: 3}),
	}
	for name, data := range examples(t) {
		p, err := DecodePlan(name, data)
		if err != nil {
			t.Fatal(err)
		}
		plans[name] = p
	}
	full := NewPlan("full", sizing.Workload{NamedUsers: 1500, Concurrency: 1.0 / 3, TPM: 4.5, Records: 1234567,
		PeakFactor: 1.5, Mix: sizing.DefaultMix()})
	full.Database = sizing.DatabaseSpec{RowBytes: 2048, IndexOverhead: 1.25, WorkingSetShare: 0.15, MemoryBytes: 16 << 30}
	full.Prices = &PriceTable{Currency: "EUR", AsOf: "2025-01-31", Monthly: map[string]float64{"m5.large": 70.08, "db.r6g.xlarge": 330}}
	full.Tiers[1].Demand = map[sizing.Class]float64{sizing.ClassList: 12.5, sizing.ClassWrite: 15}
	full.Tiers[1].TargetUtilization = 0.7
	full.Tiers[1].Instance = "m5.large"
	for i := range full.Tiers {
		if full.Tiers[i].Role == string(RoleDBReplica) {
			full.Tiers[i].Failover = Automatic
		}
	}
	full.Links = []Link{{From: RoleETL, To: RoleAPI, Port: 8081}}
	full.SLO.Classes = map[sizing.Class]sizing.ClassSLO{sizing.ClassReport: {P95Ms: 1000}, sizing.ClassList: {P95Ms: 250}}
	full.Isolate = true
	plans["full"] = full
	for name, p := range plans {
		t.Run(name, func(t *testing.T) {
			out, err := EncodePlan(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodePlan(name, out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, p) {
				t.Errorf("round trip changed the plan:\n got %+v\nwant %+v\n%s", back, p, out)
			}
			if name == "full" && (!bytes.Contains(out, []byte("failover: automatic")) || !bytes.Contains(out, []byte("isolate: true")) ||
				!bytes.Contains(out, []byte("classes: {list: {p95_ms: 250}, report: {p95_ms: 1000}}"))) {
				t.Errorf("no failover: automatic, isolate: true or the per-class SLOs in\n%s", out)
			}
			again, _ := EncodePlan(back)
			if !bytes.Equal(again, out) {
				t.Errorf("encoding is not stable:\n%s\n---\n%s", out, again)
			}
		})
	}
	out, _ := EncodePlan(plans["newplan"])
	golden(t, "newplan.yaml", out)
}

func TestEncodeReadable(t *testing.T) {
	out, err := EncodePlan(NewPlan("s", sizing.Workload{NamedUsers: 3000, Concurrency: 0.6, TPM: 5, Records: 25_000_000, Growth: 0.2}))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"concurrency: 60%", "records: 25M", "growth: 20%", "replication: async"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if _, err := EncodePlan(nil); crmplan.ErrorCode(err) != crmplan.EINTERNAL {
		t.Errorf("nil plan: %v", err)
	}
}

// TestPlanOnSSHMachines: a plan for the ssh target keeps its machines'
// own ranges (no loopback, no isolate), and target: and inventory: survive
// encoding.
func TestPlanOnSSHMachines(t *testing.T) {
	src := strings.NewReplacer("127.10.1.0/24", "10.20.1.0/24", "127.10.2.0/24", "10.20.2.0/24", "name: demo", "name: demo\ntarget: ssh\ninventory: machines.yaml").Replace(base)
	p, err := DecodePlan("plan.yaml", []byte(src))
	if err != nil {
		t.Fatalf("DecodePlan = %v, want the ssh target's private ranges accepted", err)
	}
	if p.Target != "ssh" || p.Inventory != "machines.yaml" {
		t.Fatalf("target %q, inventory %q", p.Target, p.Inventory)
	}
	out, err := EncodePlan(p)
	if err != nil || !strings.Contains(string(out), "target: ssh") || !strings.Contains(string(out), "inventory: machines.yaml") {
		t.Fatalf("EncodePlan = %v\n%s\nwant target: and inventory:", err, out)
	}
	if _, err := DecodePlan("plan.yaml", []byte(strings.Replace(src, "target: ssh\ninventory: machines.yaml", "", 1))); err == nil {
		t.Fatalf("the same ranges on the local target decoded, want them refused")
	}
}
