package main

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan/latency"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
)

// loadgenPlan is seed 000 with a loadgen tier of n servers in a zone of
// kind outside, 127.N.0.0/24 on the test's range.
func loadgenPlan(t *testing.T, n string) string {
	t.Helper()
	plan := examplePlan(t, "simplecrm")
	prefix := ownRange(t)
	plan = rewritePlan(t, plan, "zones:\n", "zones:\n  - {name: users, kind: outside, cidr: "+prefix+"0.0/24}\n")
	return rewritePlan(t, plan, "  - role: etl\n    zone: lan\n", "  - role: etl\n    zone: lan\n  - role: loadgen\n    zone: users\n    servers: "+n+"\n")
}

// TestVerifyLoadgenHosts deploys seed 000 with three loadgen hosts and
// drives its 150 req/s from all three through the mesh, each with a third
// of the script's execution segments: the sum must hold the rate with no
// dropped iteration, and the merged p95 must be the p95 of every request
// of the run pooled, within the histogram's resolution. Then, on the same
// stack, a generator lost mid-run (verifyLoadgenLost).
func TestVerifyLoadgenHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL and three k6 through the mesh")
	}
	t.Parallel()
	e := newDeployEnv(t)
	plan := loadgenPlan(t, "3")
	e.apply(plan)

	// More generators than loadgen hosts: refused before any load.
	out, err := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir, "--generators", "4").CombinedOutput()
	if code := processExit(err); code != exitUsage || !strings.Contains(string(out), "4 load generators asked for, but the stack has 3 loadgen hosts") {
		t.Errorf("--generators 4: exit %d, %s", code, out)
	}

	// The ETL jobs' CPU alone on the etl host is a few milliseconds a job,
	// counted in /proc's 10 ms ticks: with the defaults (200 rows, 5 s
	// alone) it was about one tick, and none in one make test run out of
	// four. Three times the rows for three times as long gave it six
	// (0.004 cores over 15 s) in the first run, and none again in a later
	// one (only the tiers' noise was left: web, api and the replica at
	// 0.001-0.005 cores). 5,000 rows a job make it about fifty.
	cmd := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir,
		"--duration", "30s", "--ramp-up", "5s", "--keep-points", "--output", "json",
		"--etl-rows", "5000", "--etl-window", "15s")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	release := e.measure()
	stdout, err := cmd.Output()
	release()
	t.Logf("crmplan verify (the plan's three loadgen hosts):\n%s", stderr.String())
	if err != nil {
		t.Fatalf("crmplan verify: %v", err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("verify --output json: %v\n%s", err, stdout)
	}
	if len(res.Generators) != 3 {
		t.Fatalf("generators %+v, want loadgen-1..3", res.Generators)
	}
	for _, g := range res.Generators {
		t.Logf("%s %s: %.2f req/s, %d requests, %d dropped, %.3f cores, started +%.1f ms",
			g.Host, g.Segment, g.AchievedRate, g.Requests, g.Dropped, g.CPU, g.StartOffsetMs)
		if g.Error != "" || !strings.HasPrefix(g.Host, "loadgen-") {
			t.Errorf("generator %+v: want a loadgen host that finished", g)
		}
	}
	checkETLBackground(t, res)
	t.Logf("total %.2f req/s (%d requests), %d dropped, p95 %.3f ms, generators' CPU %.3f cores, start skew %.1f ms",
		res.AchievedRate, res.Requests, res.Dropped, res.Latency.P95Ms, res.GeneratorCPU, res.StartSkewMs)
	if math.Abs(res.AchievedRate-150)/150 > 0.02 || res.Dropped != 0 {
		t.Errorf("achieved %.2f req/s with %d dropped iterations; want 150 ± 2 %% and none", res.AchievedRate, res.Dropped)
	}
	if res.Failed != 0 || !res.SLO.Passed {
		t.Errorf("%d failed (%v), SLO %+v", res.Failed, res.Errors, res.SLO)
	}

	pooled, exact := pooledP95(t, e.stateDir, res)
	t.Logf("p95: merged histograms %.3f ms, one histogram of every request %.3f ms, every request sorted (nearest rank) %.3f ms",
		res.Latency.P95Ms, pooled, exact)
	if res.Latency.P95Ms != pooled || !latency.Equivalent(res.Latency.P95Ms, exact) {
		t.Errorf("merged p95 %.3f ms is not the pooled requests' (%.3f ms, exact %.3f ms) within the resolution", res.Latency.P95Ms, pooled, exact)
	}

	// On the same stack (one apply fewer): a generator lost mid-run.
	t.Run("Lost", func(t *testing.T) { verifyLoadgenLost(t, e.in(t), plan) })
}

// pooledP95 reads every request the generators reported (--keep-points)
// and returns their steady phase's p95 from one histogram of all of them,
// and exactly (nearest rank, the rank HDR uses).
func pooledP95(t *testing.T, stateDir string, res loadgen.Result) (hist, exact float64) {
	t.Helper()
	dir := filepath.Join(stackdir.Paths{StateDir: stateDir, Stack: "simplecrm"}.Results(), res.StartedAt.Format("20060102T150405Z"))
	b, err := os.ReadFile(filepath.Join(dir, loadgen.GeneratorsFile))
	if err != nil {
		t.Fatal(err)
	}
	var reports []wire.LoadReport
	if err := json.Unmarshal(b, &reports); err != nil {
		t.Fatal(err)
	}
	h := latency.New()
	var ms []float64
	for _, r := range reports {
		for _, s := range r.Samples {
			if s.Scenario == "steady" {
				h.RecordMs(s.Ms)
				ms = append(ms, s.Ms)
			}
		}
	}
	if int64(len(ms)) != res.Requests {
		t.Fatalf("%d steady requests in %s, the result counts %d", len(ms), loadgen.GeneratorsFile, res.Requests)
	}
	sort.Float64s(ms)
	rank := int(0.95*float64(len(ms)) + 0.5)
	return h.QuantileMs(0.95), ms[max(rank-1, 0)]
}

// processExit is the exit code of a command that ran, -1 if it did not.
func processExit(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// verifyLoadgenLost runs two of the stack's generators (--generators 2:
// loadgen-1 and loadgen-2) and kills one's k6 with kill -9 in the middle
// of the run, as an out-of-memory kill would: verify must say that
// generator was lost and its share is missing, exit 1 rather than 99 (the
// SLO's), and still give the other generator's share. It leaves
// loadgen-2's mesh node dead.
func verifyLoadgenLost(t *testing.T, e *deployEnv, plan string) {
	defer e.measure()()
	cmd := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir, "--generators", "2",
		"--duration", "20s", "--ramp-up", "2s", "--output", "json")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// loadgen-2's k6 runs the script in its host's directory.
	marker := filepath.Join(stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}.HostDir("loadgen-2"), "load", "run-")
	var pid int
	deadline := time.Now().Add(45 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Second)
		pid = findProcess(marker)
	}
	if pid == 0 {
		_ = cmd.Process.Kill()
		t.Fatalf("loadgen-2's k6 (a process with %s in its command line) never started", marker)
	}
	time.Sleep(12 * time.Second) // into the measured phase
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	t.Logf("crmplan verify, loadgen-2's k6 (pid %d) killed:\n%s", pid, stderr.String())
	if code := processExit(err); code != exitFailure {
		t.Errorf("exit %d, want %d (a generator lost, not the SLO's %d)", code, exitFailure, exitSLOFailed)
	}
	if !strings.Contains(stderr.String(), "1 of 2 load generators did not finish: loadgen-2") {
		t.Errorf("stderr does not say loadgen-2 was lost")
	}
	var res loadgen.Result
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("verify --output json: %v\n%s", err, stdout.String())
	}
	if len(res.Generators) != 2 || res.Generators[0].Error != "" || res.Generators[1].Error == "" {
		t.Fatalf("generators %+v: want loadgen-1 finished, loadgen-2 lost", res.Generators)
	}
	t.Logf("lost: %s; total %.2f req/s, loadgen-1 %.2f req/s", res.Generators[1].Error, res.AchievedRate, res.Generators[0].AchievedRate)
	if !strings.Contains(res.Generators[1].Error, `k6 was killed by signal "killed" mid-run`) {
		t.Errorf("loadgen-2's error does not say its k6 was killed")
	}
	if math.Abs(res.AchievedRate-75)/75 > 0.05 || res.Requests != res.Generators[0].Requests {
		t.Errorf("achieved %.2f req/s (%d requests): want loadgen-1's half, 75 ± 5 %%", res.AchievedRate, res.Requests)
	}

	// loadgen-2's host gone (its mesh node killed): the next run fails
	// before any load, naming it.
	node := target.Node{ID: "loadgen-2", Dir: target.NodeDir(stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}.HostDir("loadgen-2"))}
	nodePID, ok := (target.Processes{}).Running(node)
	if !ok {
		t.Fatal("loadgen-2's mesh node does not run")
	}
	if err := syscall.Kill(nodePID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir, "--generators", "2", "--duration", "5s").CombinedOutput()
	t.Logf("crmplan verify with loadgen-2's node killed:\n%s", out)
	if code := processExit(err); code != exitFailure || !strings.Contains(string(out), "load generator loadgen-2 does not answer; no load was started") ||
		strings.Contains(string(out), "k6: 150 req/s") {
		t.Errorf("exit %d: want %d, loadgen-2 named before any load", code, exitFailure)
	}
}

// findProcess returns the pid of a process whose command line contains s,
// 0 when there is none.
func findProcess(s string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) && strings.Contains(string(b), "k6\x00run") {
			return pid
		}
	}
	return 0
}

// checkETLBackground: seed 000's ETL host ran its migration jobs during the
// run (verify --etl-every, on by default), they were loaded into the
// primary, their CPU alone was measured on the ETL tier, and the
// prediction here carries them as the background class etl.
func checkETLBackground(t *testing.T, res loadgen.Result) {
	t.Helper()
	if len(res.Background) != 1 {
		t.Fatalf("background %+v (%s): want the etl class", res.Background, res.BackgroundError)
	}
	b := res.Background[0]
	t.Logf("background %s: %.2f jobs/s of %d rows, %d submitted, %d failed, %d loaded, %d job errors, CPU alone %v",
		b.Class, b.Rate, b.Rows, b.Submitted, b.Failed, b.Done, b.JobErrors, b.CPU)
	if b.Class != "etl" || b.Submitted < 5 || b.Failed != 0 || b.Done < 1 || b.JobErrors != 0 || !(b.CPU["etl"] > 0) {
		t.Errorf("background %+v: want etl jobs submitted, loaded without error, and their CPU on the etl tier", b)
	}
	if res.Predicted == nil || !strings.Contains(res.Predicted.Why, "background class etl") {
		t.Errorf("predicted here %+v: want the etl class in its why", res.Predicted)
	}
}
