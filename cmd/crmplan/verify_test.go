package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

func TestVerifyEmitScript(t *testing.T) {
	code, out, errOut := crmplanRun(t, "verify", "--plan", "../../examples/simplecrm.yaml", "--emit-script")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Seed 000: 150 req/s, the plan's SLO, the plan's mix (the default
	// with 2 % of campaigns at the marketing server).
	for _, want := range []string{
		`import crm from "k6/x/crmplan";`,
		`executor: "constant-arrival-rate",`, `rate: 150,`, `duration: "2m"`,
		`"http_req_duration{scenario:steady}": ["p(95)<`,
		`const MIX = {"integration":0.1,"list":0.34,"marketing":0.02,"report":0.05,"view":0.34,"write":0.15};`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("script lacks %s", want)
		}
	}
	code, out, _ = crmplanRun(t, "verify", "--plan", "../../examples/simplecrm.yaml", "--emit-script", "--rate", "42.5", "--duration", "30s", "--p95", "120")
	if code != 0 || !strings.Contains(out, `rate: 2550,`) || !strings.Contains(out, `timeUnit: "1m"`) ||
		!strings.Contains(out, `duration: "30s"`) || !strings.Contains(out, `["p(95)<120"]`) {
		t.Errorf("overrides not in the script (exit %d)", code)
	}
}

// TestVerifyBadInput: each case exits 2 with a hint, and nothing is started
// or written.
func TestVerifyBadInput(t *testing.T) {
	state := t.TempDir()
	plan := "../../examples/simplecrm.yaml"
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"stack not deployed", []string{"--plan", plan}, "is not deployed"},
		{"rate zero", []string{"--plan", plan, "--rate", "0"}, "--rate: the rate must be above 0"},
		{"negative rate", []string{"--plan", plan, "--rate", "-5"}, "--rate"},
		{"no plan, no rate", []string{"--target", "http://127.0.0.1:1"}, "without a plan, the rate must be given"},
		{"unreachable target", []string{"--target", "http://127.0.0.1:1", "--rate", "10", "--email", "a@example.com", "--password-file", pwFile}, "is unreachable"},
		{"password as an argument", []string{"--target", "http://127.0.0.1:1", "--rate", "10", "--email", "a@example.com", "--password", "x"}, "password"},
		{"password file missing", []string{"--target", "http://127.0.0.1:1", "--rate", "10", "--email", "a@example.com", "--password-file", pwFile + ".none"}, "--password-file: cannot read the password"},
		{"target without credentials", []string{"--target", "http://127.0.0.1:1", "--rate", "10"}, "no credentials"},
		{"missing script", []string{"--plan", plan, "--script", filepath.Join(state, "nope.js")}, "--script: cannot read the script"},
		{"bad output", []string{"--plan", plan, "--output", "xml"}, "--output"},
		{"bad duration", []string{"--plan", plan, "--duration", "10ms", "--target", "http://127.0.0.1:1"}, "--duration"},
		{"unknown plan file", []string{"--plan", filepath.Join(state, "none.yaml")}, "--plan"},
		{"chaos without a time", []string{"--plan", plan, "--chaos", "kill:api-1"}, "--chaos"},
		{"chaos after the run", []string{"--plan", plan, "--duration", "30s", "--chaos", "kill:api-1@45s"}, "the measured phase (30s) is over"},
		{"chaos unknown action", []string{"--plan", plan, "--chaos", "kill:api-1@5s,pause:web-1@9s"}, `unknown action "pause"`},
		{"no generators", []string{"--plan", plan, "--generators", "0"}, "--generators: the number of load generators must be at least 1"},
		{"idle window too short", []string{"--plan", plan, "--idle-window", "500ms"}, "--idle-window: the idle window must be 0 or at least 1s"},
		{"ETL jobs too close", []string{"--plan", plan, "--etl-every", "10ms"}, "--etl-every: ETL jobs must be at least 100ms apart"},
		{"ETL job empty", []string{"--plan", plan, "--etl-rows", "0"}, "--etl-rows: an ETL job holds 1 to 100000 contacts, got 0"},
		{"ETL window too short", []string{"--plan", plan, "--etl-window", "500ms"}, "--etl-window: the ETL window must be 0 or at least 1s"},
		{"chaos against a bare URL", []string{"--target", "http://127.0.0.1:1", "--rate", "10", "--chaos", "kill:api-1@5s"}, "--chaos needs a stack crmplan deployed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CRMPLAN_EMAIL", "")
			t.Setenv("CRMPLAN_PASSWORD", "")
			t.Setenv("CRMPLAN_TARGET", "")
			args := append([]string{"verify", "--state-dir", state}, tt.args...)
			code, _, errOut := crmplanRun(t, args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, errOut)
			}
			if !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "Try: ") {
				t.Errorf("stderr %q lacks %q or a Try hint", errOut, tt.want)
			}
			if entries, _ := os.ReadDir(state); len(entries) != 0 {
				t.Errorf("the state dir has %d entries, want none", len(entries))
			}
		})
	}
}

// TestVerifyUsesInventory: with a deployed stack (an inventory) verify goes
// to its web URL; the URL refuses connections here, which must be a usage
// error naming it, not a k6 run.
func TestVerifyUsesInventory(t *testing.T) {
	state := t.TempDir()
	inv := stackdir.Inventory{Stack: "simplecrm", Target: "local", WebURL: "http://127.0.0.1:1",
		LoadUser: stackdir.Credentials{Email: "admin@example.com", Password: "secret"}}
	if err := stackdir.SaveInventory(state, inv); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := crmplanRun(t, "verify", "--plan", "../../examples/simplecrm.yaml", "--state-dir", state)
	if code != exitUsage || !strings.Contains(errOut, "http://127.0.0.1:1 is unreachable") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(errOut, "secret") {
		t.Error("the password was printed")
	}
}

// TestVerifyChaosUnknownHost: a fault naming no host or role of the
// deployed stack fails before any load is sent, listing the hosts.
func TestVerifyChaosUnknownHost(t *testing.T) {
	state := t.TempDir()
	inv := stackdir.Inventory{Stack: "simplecrm", Target: "local", WebURL: "http://127.0.0.1:1",
		LoadUser: stackdir.Credentials{Email: "admin@example.com", Password: "secret"},
		Hosts:    []stackdir.InventoryHost{{Name: "api-1", Role: "api"}, {Name: "db-primary-1", Role: "db-primary"}}}
	if err := stackdir.SaveInventory(state, inv); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := crmplanRun(t, "verify", "--plan", "../../examples/simplecrm.yaml", "--state-dir", state,
		"--chaos", "kill:app-2@5s")
	if code != exitUsage || !strings.Contains(errOut, `no host or role "app-2" (hosts: api-1, db-primary-1)`) || !strings.Contains(errOut, "Try: ") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestVerifyMoreGeneratorsThanHosts: asking for more generators than the
// stack has loadgen hosts fails before anything starts, naming them.
func TestVerifyMoreGeneratorsThanHosts(t *testing.T) {
	state := t.TempDir()
	inv := stackdir.Inventory{Stack: "simplecrm", Target: "local", WebURL: "http://127.0.0.1:1",
		LoadUser: stackdir.Credentials{Email: "admin@example.com", Password: "secret"},
		Hosts: []stackdir.InventoryHost{{Name: "web-1", Role: "web"}, {Name: "loadgen-1", Role: "loadgen"},
			{Name: "loadgen-2", Role: "loadgen"}}}
	if err := stackdir.SaveInventory(state, inv); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := crmplanRun(t, "verify", "--plan", "../../examples/simplecrm.yaml", "--state-dir", state, "--generators", "3")
	if code != exitUsage || !strings.Contains(errOut, "3 load generators asked for, but the stack has 2 loadgen hosts (loadgen-1, loadgen-2)") ||
		!strings.Contains(errOut, "Try: crmplan verify --generators 2") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestCalibrateRecordedResult calibrates the seed 000 plan from a result
// recorded by a real verify run (testdata/verify-result.json) and checks the
// demands written into the plan against D = CPU / X worked out by hand.
func TestCalibrateRecordedResult(t *testing.T) {
	data, err := os.ReadFile("../../examples/simplecrm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	planPath := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(planPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := crmplanRun(t, "calibrate", "--plan", planPath, "--result", "testdata/verify-result.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "edited the calibrated demands") || !strings.Contains(out, "end to end p95") ||
		!strings.Contains(out, "+    demand_ms: {list: ") || !strings.Contains(out, "+  delay_ms: {list: ") || !strings.Contains(out, "CLASS") ||
		!strings.Contains(out, "+  service_scv: ") || !strings.Contains(out, "service scv ") {
		t.Errorf("output:\n%s", out)
	}
	after, err := os.ReadFile(planPath)
	if err != nil {
		t.Fatal(err)
	}
	// Edited, not rewritten: every line of the seed's file is still there,
	// in order, comments included; the new lines are demands and the role
	// defaults they would drop.
	rest := string(after)
	for _, line := range strings.SplitAfter(string(data), "\n") {
		i := strings.Index(rest, line)
		if i < 0 {
			t.Fatalf("line %q of the plan lost:\n%s", line, after)
		}
		for _, added := range strings.SplitAfter(rest[:i], "\n") {
			if k := strings.TrimSpace(added); k != "" && !strings.HasPrefix(k, "demand_ms:") && !strings.HasPrefix(k, "delay_ms:") && !strings.HasPrefix(k, "service_scv:") && !strings.HasPrefix(k, "ha:") && !strings.HasPrefix(k, "min:") {
				t.Errorf("unexpected line added: %q", added)
			}
		}
		rest = rest[i+len(line):]
	}
	plan, err := topology.DecodePlan(planPath, after)
	if err != nil {
		t.Fatalf("the calibrated plan does not decode: %v", err)
	}
	got := map[string]float64{}
	for _, tier := range plan.Tiers {
		for c, d := range tier.Demand {
			got[tier.Role] += plan.Workload.Mix[c] * d
		}
		if _, measured := calibrationWant[tier.Role]; !measured && len(tier.Demand) != 0 {
			t.Errorf("%s: not measured, but the plan now has demands %v", tier.Role, tier.Demand)
		}
	}
	for role, want := range calibrationWant {
		if d := got[role]; d < want*0.999-0.0005 || d > want*1.001+0.0005 {
			t.Errorf("%s: mix-weighted demand %.4f in the plan, want %.4f", role, d, want)
		}
	}
	// A second calibration from the same result changes nothing further.
	code, out, _ = crmplanRun(t, "calibrate", "--plan", planPath, "--result", "testdata/verify-result.json")
	again, _ := os.ReadFile(planPath)
	if code != 0 || string(again) != string(after) || !strings.Contains(out, "already has the measured demands") {
		t.Errorf("calibrating twice moved the plan again (exit %d):\n%s", code, out)
	}
}

// calibrate --dry-run prints the change to the plan as a diff (golden) and
// leaves the file as it was; --output json carries the diff. A plan without
// a marketing server gets no marketing demand: the api tier's and the
// primary's defaults have one, but the plan's mix sends no such request, so
// nothing was measured for it.
func TestCalibrateDryRunDiff(t *testing.T) {
	seed, err := os.ReadFile("../../examples/simplecrm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		plan          string
		golden        string
		wantMarketing bool
	}{
		{"seed 000", string(seed), "calibrate-simplecrm.diff", true},
		{"seed 000 without marketing", withoutMarketing(t, string(seed)), "calibrate-simplecrm-nomarketing.diff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			planPath := filepath.Join(t.TempDir(), "simplecrm.yaml")
			if err := os.WriteFile(planPath, []byte(tt.plan), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := crmplanRun(t, "calibrate", "--plan", planPath, "--result", "testdata/verify-result.json", "--dry-run")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			after, _ := os.ReadFile(planPath)
			if string(after) != tt.plan {
				t.Errorf("--dry-run changed the plan")
			}
			i := strings.Index(out, "--- ")
			if i < 0 || !strings.Contains(out, "dry run: ") {
				t.Fatalf("no diff in:\n%s", out)
			}
			diff := out[i:]
			golden(t, tt.golden, strings.ReplaceAll(diff, planPath, "simplecrm.yaml"))
			if got := strings.Contains(diff, "marketing: "); got != tt.wantMarketing {
				t.Errorf("marketing demand in the diff: %v, want %v\n%s", got, tt.wantMarketing, diff)
			}
			code, out, _ = crmplanRun(t, "calibrate", "--plan", planPath, "--result", "testdata/verify-result.json", "--dry-run", "--output", "json")
			var cal struct {
				Diff  string `json:"diff"`
				Wrote bool   `json:"wrote"`
			}
			if err := json.Unmarshal([]byte(out), &cal); code != 0 || err != nil || cal.Wrote || !strings.Contains(cal.Diff, "+    demand_ms: ") {
				t.Errorf("exit %d, %v: %+v", code, err, cal)
			}
		})
	}
}

// withoutMarketing is seed 000's plan as it was before it had a marketing
// server: no marketing tiers, and their 2 % of the mix back with list.
func withoutMarketing(t *testing.T, plan string) string {
	t.Helper()
	cut := strings.Index(plan, "  # \"The marketing application server")
	mix := "marketing: 2%}"
	if cut < 0 || !strings.Contains(plan, mix) {
		t.Fatal("examples/simplecrm.yaml no longer ends with its marketing tiers")
	}
	plan = strings.Replace(plan[:cut], "list: 34%", "list: 36%", 1)
	return strings.Replace(plan, ", "+mix, "}", 1)
}

func TestCalibrateBadInput(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no result", []string{"--plan", "../../examples/simplecrm.yaml", "--result", filepath.Join(t.TempDir(), "none.json")}, exitFailure, "no verify result"},
		{"no plan", []string{"--result", "testdata/verify-result.json"}, exitUsage, "--plan: a plan file is required"},
		{"not a result", []string{"--plan", "../../examples/simplecrm.yaml", "--result", "../../examples/simplecrm.yaml"}, exitUsage, "is not a verify result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CRMPLAN_PLAN", "")
			code, _, errOut := crmplanRun(t, append([]string{"calibrate", "--dry-run"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "Try: ") {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.wantCode, errOut, tt.want)
			}
		})
	}
}

// calibrationWant is worked out by hand from testdata/verify-result.json,
// recorded by TestVerifyRealStack -record-result (150.05 req/s achieved),
// against examples/simplecrm.yaml's mix (list 0.34, view 0.34, write 0.15,
// report 0.05, integration 0.10, marketing 0.02):
//
//	web: 0.10780 CPU / 150.05 req/s = 0.71842 ms per request; the
//	     mix-weighted web demand is 0.34*1 + 0.34*0.8 + 0.15*1.2 + 0.05*1 = 0.842 ms,
//	     so list (1 ms) becomes 1 * 0.71842/0.842 = 0.853 ms.
//	api: 0.13558 CPU / 150.05 = 0.90359 ms against 12.17 ms (sizing's
//	     defaults, marketing 6 ms), so list (12 ms) becomes 12 * 0.90359/12.17 = 0.891 ms.
//	db-primary (CPU of the postmaster and its backends from /proc):
//	     0.12389 / 150.05 = 0.82564 ms against 0.34*1 + 0.34*2 + 0.15*6 +
//	     0.05*1 + 0.10*3 + 0.02*1 = 2.29 ms (the defaults beside a replica,
//	     which serves lists and reports), so list (1 ms) becomes 0.361 ms.
//
// The class fit (loadgen.CalibrateClasses) then moves each tier's split
// between the classes, so the test holds each tier's mix-weighted demand
// to D = CPU / X, which the fit keeps: web 0.71842, api 0.90359, primary
// 0.82564 ms.
//
// The replica, integration, ETL and marketing tiers were not running in
// that test and stay as the plan had them (no demands: the role's defaults).
var calibrationWant = map[string]float64{"web": 0.71842, "api": 0.90359, "db-primary": 0.82564}

// Integration-class calls go to the ESB hosts on the local target, where
// the generator reaches them, and stay on the web tier of an isolated
// stack, whose LAN the generator cannot reach.
func TestInventoryTargetIntegration(t *testing.T) {
	inv := stackdir.Inventory{WebURL: "http://127.68.1.10:8080", Hosts: []stackdir.InventoryHost{
		{Name: "web-1", Role: "web", Address: "127.68.1.10", Port: 8080},
		{Name: "integration-1", Role: "integration", Address: "127.68.2.14", Port: 8084},
		{Name: "integration-2", Role: "integration", Address: "127.68.2.15", Port: 8084},
		{Name: "marketing-1", Role: "marketing", Address: "127.68.1.20", Port: 8088},
	}}
	m := sizing.Model{}.WithDefaults()
	for _, tt := range []struct {
		target string
		want   []string
	}{
		{"local", []string{"http://127.68.2.14:8084", "http://127.68.2.15:8084"}},
		{"netns", nil},
	} {
		inv.Target = tt.target
		if got := inventoryTarget(inv, m).Integration; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: integration %v, want %v", tt.target, got, tt.want)
		}
		// The marketing server is in the DMZ, which k6 reaches on both.
		if got, want := inventoryTarget(inv, m).Marketing, []string{"http://127.68.1.20:8088"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: marketing %v, want %v", tt.target, got, want)
		}
	}

	// Seed 002: the access proxies in the DMZ front the integrators, and
	// the calls go through them on every target, never to an integrator
	// that may leave the cluster.
	inv.Hosts = append(inv.Hosts, stackdir.InventoryHost{Name: "proxy-1", Role: "proxy", Address: "127.68.1.11", Port: 8443},
		stackdir.InventoryHost{Name: "proxy-2", Role: "proxy", Address: "127.68.1.12", Port: 8443})
	for _, target := range []string{"local", "netns"} {
		inv.Target = target
		if got, want := inventoryTarget(inv, m).Integration, []string{"http://127.68.1.11:8443", "http://127.68.1.12:8443"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s with proxies: integration %v, want %v", target, got, want)
		}
	}
}

// TestDeployedEstimate: the prediction here is of the stack that runs. A
// plan calibrated after its apply may size seed 001's api tier at 2 where 3
// were deployed; the api tier then has the inventory's 3, a tier the
// inventory lacks keeps the plan's count, and the plan's estimate is
// left as it was.
func TestDeployedEstimate(t *testing.T) {
	est := layExample(t, "simplecrm").Estimate
	inv := stackdir.Inventory{Hosts: []stackdir.InventoryHost{
		{Name: "api-1", Role: "api"}, {Name: "api-2", Role: "api"}, {Name: "api-3", Role: "api"},
		{Name: "web-1", Role: "web"},
	}}
	before := slices.Clone(est.Tiers)
	got := deployedEstimate(est, inv)
	for i, tier := range got.Tiers {
		want := before[i].Servers
		switch tier.Role {
		case "api":
			want = 3
		case "web":
			want = 1
		}
		if tier.Servers != want {
			t.Errorf("%s: %d servers, want %d", tier.Role, tier.Servers, want)
		}
		if est.Tiers[i].Servers != before[i].Servers {
			t.Errorf("%s: the plan's estimate changed to %d servers", tier.Role, est.Tiers[i].Servers)
		}
	}
}
