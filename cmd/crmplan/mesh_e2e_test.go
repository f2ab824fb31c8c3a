package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
)

// buildCrm builds crm from this tree as another version into dir: a new
// release for a rolling deploy.
func buildCrm(t *testing.T, dir, version string) string {
	t.Helper()
	crm := filepath.Join(dir, "crm")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", crm, "./cmd/crm")
	build.Dir = "../.."
	lease := cpulease.Work(t) // a link of crm is seconds of both cores
	out, err := build.CombinedOutput()
	lease.Release()
	if err != nil {
		t.Fatalf("go build crm: %v\n%s", err, out)
	}
	return crm
}

// withCrm is a copy of a deployEnv's flags with its --crm replaced: once a
// stack runs a new build, the applies after it deploy that build too.
func withCrm(args []string, crm string) []string {
	out := append([]string(nil), args...)
	for i := range out[:len(out)-1] {
		if out[i] == "--crm" {
			out[i+1] = crm
		}
	}
	return out
}

// applyUnderLoad runs crmplan verify at the plan's rate in the
// background, waits settle so that k6 is at its full rate (verify first
// measures the idle CPU and the ETL jobs alone, then ramps up), then runs
// crmplan apply with e's flags followed by extra (so a later --crm wins).
// The load goes on for loadTail after the apply, then verify is stopped
// as by Ctrl-C: it saves the result of what ran, judged over that time,
// so the load lasts as long as the apply needs rather than a fixed time
// picked for the slowest machine. maxLoad bounds it; an apply that
// outlasts maxLoad-settle was partly not under load, and fails the test.
// The test also fails when either command fails (verify's exit 99, an SLO
// missed, is a result). It returns the apply's output, how long it took
// and k6's result, for the caller's own checks.
//
// busy is how many of the machine's cores every process kept busy while the
// load ran (/proc/stat): atRate's judge of a run short of its rate.
func applyUnderLoad(t *testing.T, e *deployEnv, stack, plan string, maxLoad, settle time.Duration, extra ...string) (applied string, took time.Duration, lr loadgen.Result, busy float64) {
	t.Helper()
	defer e.measure()() // the apply included: it is what the load measures
	cpu0, err := target.MachineBusy()
	if err != nil {
		t.Fatal(err)
	}
	loadBegan := time.Now()
	var out bytes.Buffer
	verify := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir, "--duration", maxLoad.String(), "--ramp-up", "3s")
	verify.Stdout, verify.Stderr = &out, &out
	if err := verify.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = verify.Process.Kill() }()
	ended := make(chan error, 1)
	go func() { ended <- verify.Wait() }()
	time.Sleep(settle)

	args := append(append([]string{"apply", "--plan", plan, "--yes", "--records", "500"}, e.args...), extra...)
	began := time.Now()
	appliedOut, err := exec.Command(e.crmplan, args...).CombinedOutput()
	took = time.Since(began)
	t.Logf("apply under load (%.1fs):\n%s", took.Seconds(), appliedOut)
	if err != nil {
		t.Fatalf("apply under load: %v", err)
	}
	if took > maxLoad-settle {
		t.Errorf("the apply took %.0fs, longer than the load ran after it began (%s): part of it was not under load", took.Seconds(), maxLoad-settle)
	}

	stopped := false
	select {
	case err = <-ended:
	case <-time.After(loadTail):
		stopped = true
		_ = verify.Process.Signal(os.Interrupt)
		err = <-ended
	}
	if cpu1, err := target.MachineBusy(); err == nil {
		busy = (cpu1 - cpu0) / time.Since(loadBegan).Seconds()
	}
	t.Logf("crmplan verify during the apply (stopped %s after it: %v; the machine %.2f of %d cores busy meanwhile):\n%s",
		loadTail, stopped, busy, runtime.NumCPU(), out.String())
	code := verify.ProcessState.ExitCode()
	cut := stopped && code == exitFailure && strings.Contains(out.String(), "the run was interrupted; the partial result is saved")
	if code != 0 && code != exitSLOFailed && !cut {
		t.Fatalf("crmplan verify: %v", err)
	}
	lr, err = loadgen.LoadResult(stackdir.Paths{StateDir: e.stateDir, Stack: stack}.LatestResult())
	if err != nil {
		t.Fatal(err)
	}
	return string(appliedOut), took, lr, busy
}

// atRate checks that a run under load held min of its target rate. A run
// short of it while every core of the machine was busy (busy: every
// process's CPU, in cores, over the run) fell short for want of CPU, which
// the stacks of other tests running beside it and their builds took (go
// test runs packages, and this package's e2e tests, side by side on 2
// cores): that is logged and not failed, and the run's other checks, no
// failed request above all, still stand. Short with a core to spare, the
// stack did not keep up: that fails.
func atRate(t *testing.T, what string, lr loadgen.Result, min, busy float64) {
	t.Helper()
	if lr.AchievedRate >= min*lr.TargetRate {
		return
	}
	cores := float64(runtime.NumCPU())
	if busy >= 0.9*cores {
		t.Logf("%s: achieved %.1f of %.1f req/s while %.2f of the machine's %.0f cores were busy: short for want of CPU, not counted",
			what, lr.AchievedRate, lr.TargetRate, busy, cores)
		return
	}
	t.Errorf("%s: achieved %.1f of %.1f req/s with %.2f of the machine's %.0f cores busy: the stack did not keep up",
		what, lr.AchievedRate, lr.TargetRate, busy, cores)
}

// loadTail is how long the load goes on after an apply under load: the
// stack as the apply left it serves it too.
const loadTail = 5 * time.Second

// rollingDeployOverMesh applies crm2 (another version of crm) to a
// deployed seed 000 while k6 sends 150 req/s through the web tier: the
// api servers are drained, updated and put back one at a time, and the
// web hosts roll last by handing their listening socket and client
// connections over to the new binary: no request may fail during the
// whole deploy. Every api host must end on the new release, and status
// must show every host's mesh node up. TestSharedSimpleCRM runs it.
func rollingDeployOverMesh(t *testing.T, e *deployEnv, plan, crm2 string) {
	// The web hosts come last (they depend on the api servers): the moment
	// web-1's agent installs the new release ends the api phase.
	web1 := filepath.Join(stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}.HostDir("web-1"), "current")
	before, _ := os.Readlink(web1)
	webPhase := make(chan time.Time, 1)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if now, _ := os.Readlink(web1); now != before {
				webPhase <- time.Now()
				return
			}
		}
	}()

	// At full rate before the deploy begins: 10 s. At most 180 s of load,
	// as the ssh rig's rolling deploy: the deploy took 97 s once with the
	// machine's 2 cores busy with other packages' tests (the load stops
	// 5 s after the apply in any case).
	_, took, lr, busy := applyUnderLoad(t, e, "simplecrm", plan, 180*time.Second, 10*time.Second, "--crm", crm2)
	t.Logf("BENCH rolling deploy (apply with a new crm build) %.1fs", took.Seconds())
	t.Logf("load: %.1f req/s achieved, %d requests failed, %d dropped", lr.AchievedRate, lr.Failed, lr.Dropped)
	atRate(t, "rolling deploy", lr, 140.0/150, busy)
	var webAt time.Time
	select {
	case webAt = <-webPhase:
	default:
		t.Fatal("web-1 never got the new release")
	}
	// A series point covers the step (5 s) before it, counted from k6's
	// first request (SeriesStart; StartedAt is verify's, before its idle
	// and background windows). A failure counts for the api phase only
	// when its whole step ended before web-1's release moved.
	var apiPhase, web int64
	for _, p := range lr.Series {
		if lr.SeriesStart.Add(time.Duration(p.AtS * float64(time.Second))).Before(webAt) {
			apiPhase += p.Errors
		} else {
			web += p.Errors
		}
	}
	t.Logf("failed requests: %d while the api servers rolled, %d while the web hosts handed their sockets over", apiPhase, web)
	if apiPhase != 0 {
		t.Errorf("%d requests failed while the api servers rolled (drained first), want 0", apiPhase)
	}
	if web != 0 {
		t.Errorf("%d requests failed while the web hosts handed their sockets over, want 0", web)
	}
	if lr.Failed != 0 {
		t.Errorf("%d requests failed during the rolling deploy, want 0: %v", lr.Failed, lr.Errors)
		logK6Warnings(t, e.stateDir, "simplecrm")
	}

	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	apis := 0
	for _, h := range st.Hosts {
		if !strings.HasPrefix(h.Mesh, "up") {
			t.Errorf("status: %s mesh node %q, want up", h.Name, h.Mesh)
		}
		if h.Role == "api" {
			apis++
			if !strings.HasPrefix(h.Release, "2.0.0-rolling-") {
				t.Errorf("status: %s runs release %q, want 2.0.0-rolling-...", h.Name, h.Release)
			}
		}
	}
	if apis != 2 {
		t.Errorf("status shows %d api hosts, want 2", apis)
	}
}

// logK6Warnings prints the warnings and errors of every k6 run of stack:
// a failed request's own error (EOF, refused, timeout) is only there.
func logK6Warnings(t *testing.T, stateDir, stack string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(stackdir.Paths{StateDir: stateDir, Stack: stack}.Results(), "*", "k6.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "level=warn") || strings.Contains(line, "level=error") {
				t.Logf("k6: %s", line)
			}
		}
	}
}
