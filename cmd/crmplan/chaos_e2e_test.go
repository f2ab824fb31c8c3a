package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/reports"
)

// chaosVerify runs crmplan verify --chaos against a deployed stack and
// returns its result; exit 99 (an SLO missed because of the faults) is a
// result too.
func chaosVerify(t *testing.T, e *deployEnv, plan, chaos, duration string) loadgen.Result {
	t.Helper()
	release := e.measure()
	cmd := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir,
		"--duration", duration, "--ramp-up", "5s", "--chaos", chaos, "--output", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	release()
	t.Logf("crmplan verify --chaos %s:\n%s", chaos, stderr.String())
	if err != nil && cmd.ProcessState.ExitCode() != exitSLOFailed {
		t.Fatalf("crmplan verify: %v", err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("verify --output json: %v\n%s", err, out)
	}
	if res.Availability == nil || len(res.Availability.Faults) == 0 {
		t.Fatalf("no availability section in the result: %s", out)
	}
	for _, f := range res.Availability.Faults {
		t.Logf("%s on %s at %.1f s: failed %v in seconds %v, RTO %.1f s (recovered %v)",
			f.Fault, f.Host, f.AtS, f.Failed, f.FailedSeconds, f.RTOS, f.Recovered)
		if f.Error != "" {
			t.Fatalf("%s was not injected: %s", f.Fault, f.Error)
		}
	}
	t.Logf("failed by method %v; ledger %+v", res.Availability.FailedByMethod, res.Availability.Ledger)
	return res
}

// chaosKillAPIServer: a deployed seed 000 at 150 req/s under k6 while one
// of its two api servers (app-1) is killed with kill -9. The web tier
// retries GETs on the other server, so no GET may fail; no acknowledged
// write may be lost. It leaves api-1 down. TestSharedSimpleCRM and
// TestApplyIsolated (chaosKillAPIServerIsolated) run it.
func chaosKillAPIServer(t *testing.T, e *deployEnv, plan string) {
	t.Helper()
	res := chaosVerify(t, e, plan, "kill:app-1@8s", "25s")
	a := res.Availability
	if f := a.Faults[0]; f.Host != "api-1" {
		t.Errorf("app-1 resolved to %s, want api-1", f.Host)
	}
	if n := a.FailedByMethod["GET"]; n != 0 {
		t.Errorf("%d GETs failed while an api server died; the balancer must retry them", n)
	}
	if !a.Ledger.Checked || a.Ledger.Acked == 0 || a.Ledger.Lost != 0 {
		t.Errorf("ledger %+v: want writes acknowledged, checked, none lost", a.Ledger)
	}
	if res.Requests < 3000 {
		t.Errorf("only %d requests in 30 s at 150 req/s", res.Requests)
	}
	checkAvailabilityReport(t, e, plan, res)
}

// checkAvailabilityReport runs crmplan report after a chaos run: its
// availability section must carry the run's faults and ledger figures.
func checkAvailabilityReport(t *testing.T, e *deployEnv, plan string, res loadgen.Result) {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command(e.crmplan, "report", "--plan", plan, "--state-dir", e.stateDir, "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("crmplan report: %v\n%s", err, out)
	}
	files := reports.Files{HTML: filepath.Join(dir, "report.html"), JSON: filepath.Join(dir, "report.json")}
	b, err := os.ReadFile(files.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var r reports.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	av, a := r.Availability, res.Availability
	if av.Missing != "" || len(av.Faults) != len(a.Faults) || av.Faults[0].Host != a.Faults[0].Host ||
		av.AckedWrites != a.Ledger.Acked || av.LostWrites != a.Ledger.Lost || len(av.Timeline) == 0 {
		t.Errorf("report's availability section %+v does not tell the run's %+v", av, *a)
	}
	html, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "Availability under faults") || !strings.Contains(string(html), a.Faults[0].Fault) {
		t.Errorf("report.html lacks the availability section or its fault %s", a.Faults[0].Fault)
	}
}

// TestChaosPrimaryLossSyncAndAsync kills the database primary under load
// in two stacks with automatic failover (side by side, each on its own
// range): with synchronous replication (remote_apply) no acknowledged
// write may be lost; with asynchronous replication the loss is measured by
// the ledger and reported, whatever it is. In both the watchdog must bring
// writes back without a command.
func TestChaosPrimaryLossSyncAndAsync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL and k6 for two stacks")
	}
	t.Parallel()
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel() // two stacks, each with its state dir and range
			e := newDeployEnv(t)
			plan := examplePlan(t, "simplecrm")
			plan = rewritePlan(t, plan, "    replication: async\n", "    replication: "+mode+"\n    failover: automatic\n")
			e.apply(plan)
			chaosPrimaryLoss(t, e, plan, mode)
			if _, err := e.exec("destroy", "--stack", "simplecrm", "--yes"); err != nil {
				t.Fatalf("destroy: %v", err)
			}
		})
	}
}

// chaosPrimaryLoss kills the primary under load on a deployed seed 000
// with failover: automatic and replication mode: the watchdog must bring
// writes back, and with sync replication no acknowledged write is lost.
func chaosPrimaryLoss(t *testing.T, e *deployEnv, plan, mode string) {
	t.Helper()
	res := chaosVerify(t, e, plan, "kill:db-primary@8s", "35s")
	a := res.Availability
	f := a.Faults[0]
	if f.Host != "db-primary-1" {
		t.Errorf("db-primary resolved to %s, want db-primary-1", f.Host)
	}
	if !f.Recovered {
		t.Errorf("requests still failed at the end of the run: the watchdog did not fail over")
	}
	if !a.Ledger.Checked || a.Ledger.Acked == 0 {
		t.Fatalf("ledger %+v: want acknowledged writes, checked against the promoted primary", a.Ledger)
	}
	if mode == "sync" && a.Ledger.Lost != 0 {
		t.Errorf("synchronous replication lost %d acknowledged writes (%v)", a.Ledger.Lost, a.Ledger.Sample)
	}
	t.Logf("BENCH %s replication: RTO %.1f s, %d of %d acknowledged writes lost", mode, f.RTOS, a.Ledger.Lost, a.Ledger.Acked)
}
