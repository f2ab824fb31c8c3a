package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan/topology"
)

func TestSizeSeed000(t *testing.T) {
	code, stdout, stderr := crmplanRun(t, "size", "--named-users", "3000", "--concurrency", "60%",
		"--tpm", "5", "--records", "25M", "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var got struct {
		Workload struct {
			NamedUsers        int     `json:"named_users"`
			ConcurrentUsers   float64 `json:"concurrent_users"`
			RequestsPerSecond float64 `json:"requests_per_second"`
		} `json:"workload"`
		Tiers []struct {
			Role    string `json:"role"`
			Servers int    `json:"servers"`
		} `json:"tiers"`
		Topology struct {
			Zones []struct {
				Name string `json:"name"`
				Kind string `json:"kind"`
			} `json:"zones"`
			Hosts []struct {
				Name, Role, Zone string
			} `json:"hosts"`
		} `json:"topology"`
		BulkLoad map[string]string `json:"bulk_load"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not the JSON contract: %v\n%s", err, stdout)
	}
	// 25M records of 1 KiB with half again of indexes are 38.4 GB: an
	// eighth, whole, is 4 GB of WAL; the 16 GiB server's eighth is 2 GB to
	// sort each index in.
	if want := map[string]string{"max_wal_size": "4GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "2GB"}; !maps.Equal(got.BulkLoad, want) {
		t.Errorf("bulk_load = %v, want %v", got.BulkLoad, want)
	}
	if got.Workload.NamedUsers != 3000 || got.Workload.ConcurrentUsers != 1800 || got.Workload.RequestsPerSecond != 150 {
		t.Errorf("workload = %+v, want 3000 named, 1800 concurrent, 150 req/s", got.Workload)
	}
	kind := map[string]string{}
	for _, z := range got.Topology.Zones {
		kind[z.Name] = z.Kind
	}
	count := map[string]int{}
	for _, h := range got.Topology.Hosts {
		count[h.Role+"@"+kind[h.Zone]]++
	}
	for _, want := range []struct {
		where string
		min   int
	}{{"web@dmz", 1}, {"api@lan", 2}, {"db-primary@lan", 1}, {"db-replica@lan", 1}} {
		if count[want.where] < want.min {
			t.Errorf("hosts %s = %d, want at least %d (hosts: %v)", want.where, count[want.where], want.min, count)
		}
	}
}

func TestSizeExamplesGolden(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(examples) < 5 {
		t.Fatalf("want the five seed examples, found %v (%v)", examples, err)
	}
	for _, path := range examples {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := crmplanRun(t, "size", "--plan", path)
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			golden(t, "size-"+name+".txt", stdout)
		})
	}
}

func TestSizeWriteThenRead(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	code, first, stderr := crmplanRun(t, "size", "--named-users", "3000", "--concurrency", "0.6", "--tpm", "5",
		"--records", "2.5e7", "--write", plan, "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "wrote plan "+plan) {
		t.Errorf("stderr %q does not say where the plan went", stderr)
	}
	code, second, stderr := crmplanRun(t, "size", "--plan", plan, "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if first != second {
		t.Errorf("sizing the written plan differs from sizing the flags:\n%s\n---\n%s", first, second)
	}
}

func TestSizeSweep(t *testing.T) {
	code, stdout, stderr := crmplanRun(t, "size", "--plan", "../../examples/simplecrm.yaml",
		"--sweep", "named-users=1000:30000:1000", "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Points []struct {
			Value float64 `json:"value"`
			Tiers []struct {
				Role    string `json:"role"`
				Servers int    `json:"servers"`
			} `json:"tiers"`
		} `json:"points"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != 30 {
		t.Fatalf("%d points, want 30", len(got.Points))
	}
	servers := func(i int) (n int) {
		for _, tier := range got.Points[i].Tiers {
			n += tier.Servers
		}
		return n
	}
	if servers(29) <= servers(0) {
		t.Errorf("30000 users need %d servers, 1000 users %d: want more", servers(29), servers(0))
	}
}

func TestSizeBadInput(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	writeFile(t, typo, strings.Replace(readFile(t, "../../examples/simplecrm.yaml"), "named_users:", "named_user:", 1))
	dmzdb := filepath.Join(dir, "dmzdb.yaml")
	writeFile(t, dmzdb, readFile(t, "../../examples/simplecrm.yaml")+"\nlinks:\n  - {from: web, to: db-primary, port: 5432}\n")
	base := []string{"size", "--concurrency", "60%", "--tpm", "5"}
	tests := []struct {
		name      string
		args      []string
		wantField string
	}{
		{"zero users", append(base, "--named-users", "0"), "--named-users"},
		{"negative users", append(base, "--named-users", "-5"), "--named-users"},
		{"non-numeric users", append(base, "--named-users", "lots"), "--named-users"},
		{"concurrency above 100%", []string{"size", "--named-users", "3000", "--concurrency", "150%"}, "concurrency"},
		{"non-numeric tpm", []string{"size", "--named-users", "3000", "--tpm", "five"}, "--tpm"},
		{"typo'd key", []string{"size", "--plan", typo}, "named_user"},
		{"dmz host linked to the database", []string{"size", "--plan", dmzdb}, "db-primary"},
		{"missing plan file", []string{"size", "--plan", filepath.Join(dir, "nope.yaml")}, "--plan"},
		{"unknown output", []string{"size", "--named-users", "3000", "--output", "xml"}, "--output"},
		{"bad sweep", []string{"size", "--named-users", "3000", "--sweep", "users=1:2"}, "--sweep"},
		{"unknown flag", []string{"size", "--named-usrs", "3000"}, "named-usrs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "plan.yaml")
			code, stdout, stderr := crmplanRun(t, append(tt.args, "--write", out)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (usage); stderr:\n%s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.wantField) {
				t.Errorf("stderr does not name %q:\n%s", tt.wantField, stderr)
			}
			if !strings.Contains(stderr, "Try: ") {
				t.Errorf("stderr has no Try: hint:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty on bad input, got:\n%s", stdout)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a plan was written despite the error")
			}
		})
	}
}

func TestUnknownCommandFails(t *testing.T) {
	code, _, stderr := crmplanRun(t, "no-such-command")
	if code == exitOK {
		t.Errorf("unknown command exited 0; stderr: %s", stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSizePlanFileErrorsNameTheLine(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	writeFile(t, plan, strings.Replace(readFile(t, "../../examples/simplecrm.yaml"), "named_users: 3000", "named_users: -3000", 1))
	code, _, stderr := crmplanRun(t, "size", "--plan", plan)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
	}
	if !strings.Contains(stderr, "plan.yaml:") || !strings.Contains(stderr, "named_users") {
		t.Errorf("stderr should name the file, line and field:\n%s", stderr)
	}
}

func TestSizeYAMLMatchesJSON(t *testing.T) {
	args := []string{"size", "--plan", "../../examples/simplecrm.yaml", "--output"}
	_, asJSON, _ := crmplanRun(t, append(args, "json")...)
	code, asYAML, stderr := crmplanRun(t, append(args, "yaml")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal([]byte(asJSON), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(asYAML), &fromYAML); err != nil {
		t.Fatalf("yaml output does not parse: %v\n%s", err, asYAML)
	}
	// Numbers differ in type (float64 vs int), so compare through JSON.
	a, _ := json.Marshal(fromJSON)
	b, _ := json.Marshal(fromYAML)
	if string(a) != string(b) {
		t.Errorf("yaml and json outputs carry different data:\n%s\n---\n%s", a, b)
	}
	if !strings.HasPrefix(asYAML, "plan: simplecrm\nworkload:\n  named_users: 3000\n") {
		t.Errorf("yaml should keep the JSON contract's key order and integers:\n%.200s", asYAML)
	}
}

// TestSizeLoadgen: --loadgen places load generators in an outside zone,
// as many as k6's CPU per request needs at the design rate.
func TestSizeLoadgen(t *testing.T) {
	tests := []struct {
		name, users string
		want        int
	}{
		{"seed 000: 150 req/s, 0.15 cores", "3000", 1},
		// 6000 req/s: 6.2 cores of k6, 2-core hosts at 60 %: 6.2/1.2 = 5.15.
		{"40 times the users", "120k", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "plan.yaml")
			code, stdout, stderr := crmplanRun(t, "size", "--named-users", tt.users, "--concurrency", "60%", "--tpm", "5",
				"--records", "25M", "--loadgen", "--write", path, "--output", "json")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got struct {
				Topology topology.Topology `json:"topology"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			var gens []topology.Host
			for _, h := range got.Topology.Hosts {
				if h.Role == topology.RoleLoadgen {
					gens = append(gens, h)
				}
			}
			if len(gens) != tt.want || gens[0].Zone != "users" || got.Topology.Zones[0].Kind != topology.Outside {
				t.Errorf("loadgen hosts %+v in zones %+v, want %d in users (outside)", gens, got.Topology.Zones, tt.want)
			}
			// The plan written keeps them: verify --generators finds them after apply.
			data, err := os.ReadFile(path)
			if err != nil || !strings.Contains(string(data), "role: loadgen") || !strings.Contains(string(data), "kind: outside") {
				t.Errorf("written plan lacks the loadgen tier or its zone (%v):\n%s", err, data)
			}
		})
	}
}

// The model line says the service times' shape when the plan gives one
// (calibrate writes workload.service_scv), and the JSON's model carries it;
// exponential times (scv 1, or none) add neither.
func TestSizeServiceShape(t *testing.T) {
	tests := []struct {
		name       string
		scv        string // the workload line added, "" for none
		wantWhy    string // in the table's model line; "" for no shape at all
		wantStages int
		wantSCV    float64
	}{
		{"exponential by default", "", "", 0, 0},
		{"scv 1 is exponential", "service_scv: 1", "", 0, 0},
		{"Erlang-2", "service_scv: 0.5", "service times Erlang-2 (workload.service_scv 0.5)", 2, 0.5},
		{"scv 0.3 rounds to 3 stages", "service_scv: 0.3", "service times Erlang-3 (workload.service_scv 0.3)", 3, 0.3},
	}
	seed, err := os.ReadFile(seedPlanFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := string(seed)
			if tt.scv != "" {
				data = strings.Replace(data, "\nworkload:\n", "\nworkload:\n  "+tt.scv+"\n", 1)
			}
			plan := filepath.Join(t.TempDir(), "plan.yaml")
			if err := os.WriteFile(plan, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			code, table, stderr := crmplanRun(t, "size", "--plan", plan)
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			var model string
			for _, line := range strings.Split(table, "\n") {
				if strings.HasPrefix(line, "Model: ") {
					model = line
				}
			}
			if model == "" || tt.wantWhy == "" && strings.Contains(model, "Erlang") || !strings.Contains(model, tt.wantWhy) {
				t.Errorf("model line %q, want it to say %q", model, tt.wantWhy)
			}
			code, stdout, stderr := crmplanRun(t, "size", "--plan", plan, "--output", "json")
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			var got struct {
				Model map[string]any `json:"model"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			stages, hasStages := got.Model["service_stages"]
			scv, hasSCV := got.Model["service_scv"]
			if tt.wantStages == 0 {
				if hasStages || hasSCV {
					t.Errorf("exponential times, but the model says stages %v, scv %v", stages, scv)
				}
			} else if stages != float64(tt.wantStages) || scv != tt.wantSCV {
				t.Errorf("model's service_stages %v, service_scv %v; want %d, %v", stages, scv, tt.wantStages, tt.wantSCV)
			}
		})
	}
}
