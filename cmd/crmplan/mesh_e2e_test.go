package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// TestRollingDeployOverMesh deploys seed 000 through the Receptor mesh,
// then applies a rebuilt crm (another version) while k6 sends 150 req/s
// through the web tier: the api servers are drained, updated and put back
// one at a time, and the web hosts roll last by handing their listening
// socket and client connections over to the new binary: no request may
// fail during the whole deploy. Every api host must end on the new
// release, and status must show every host's mesh node up.
func TestRollingDeployOverMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL, Receptor and k6")
	}
	t.Parallel()
	e := newDeployEnv(t)
	plan := examplePlan(t, "simplecrm")
	if _, took := e.apply(plan); took > 0 {
		t.Logf("BENCH mesh first apply %.1fs", took.Seconds())
	}
	res, _ := e.apply(plan)
	if res.Changed {
		t.Fatalf("re-apply changed %v, want no change (no work units)", res.Changes)
	}

	crm2 := filepath.Join(t.TempDir(), "crm")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=2.0.0-rolling", "-o", crm2, "./cmd/crm")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build crm: %v\n%s", err, out)
	}

	var load bytes.Buffer
	verify := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir, "--duration", "75s", "--ramp-up", "3s")
	verify.Stdout, verify.Stderr = &load, &load
	if err := verify.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = verify.Process.Kill() })
	// At full rate before the deploy begins: verify first measures the
	// idle CPU (2 s) and the ETL jobs alone (2 s).
	time.Sleep(10 * time.Second)

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

	args := append([]string{"apply", "--plan", plan, "--yes", "--records", "500"}, e.args...)
	args = append(args, "--crm", crm2) // after e.args: the last --crm wins
	began := time.Now()
	out, err := exec.Command(e.crmplan, args...).CombinedOutput()
	took := time.Since(began)
	t.Logf("rolling apply (%.1fs):\n%s", took.Seconds(), out)
	if err != nil {
		t.Fatalf("apply with the new crm: %v", err)
	}
	t.Logf("BENCH rolling deploy (apply with a new crm build) %.1fs", took.Seconds())

	err = verify.Wait()
	t.Logf("crmplan verify during the deploy:\n%s", load.String())
	if code := verify.ProcessState.ExitCode(); code != 0 && code != exitSLOFailed {
		t.Fatalf("crmplan verify: %v", err)
	}
	if took > 75*time.Second {
		t.Errorf("the deploy took %.0fs, longer than the load ran: part of it was not under load", took.Seconds())
	}
	lr, err := loadgen.LoadResult(stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}.LatestResult())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %.1f req/s achieved, %d requests failed, %d dropped", lr.AchievedRate, lr.Failed, lr.Dropped)
	if lr.AchievedRate < 140 {
		t.Errorf("achieved %.1f req/s, want about 150", lr.AchievedRate)
	}
	var webAt time.Time
	select {
	case webAt = <-webPhase:
	default:
		t.Fatal("web-1 never got the new release")
	}
	// A series point covers the step before it, counted from k6's first
	// request, a little after StartedAt: 2 s of margin. The install unit
	// that moves web-1's release takes longer than that, so the api phase
	// has ended by then.
	var apiPhase, web int64
	for _, p := range lr.Series {
		if lr.StartedAt.Add(time.Duration(p.AtS*float64(time.Second)) + 2*time.Second).Before(webAt) {
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
		logs, _ := filepath.Glob(filepath.Join(stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}.Results(), "*", "k6.log"))
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, "level=warn") || strings.Contains(line, "level=error") {
					t.Logf("k6: %s", line)
				}
			}
		}
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

	if out, err := e.exec("destroy", "--plan", plan, "--yes"); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	if out, _ := exec.Command("pgrep", "-f", "receptor --config "+e.stateDir).Output(); len(out) > 0 {
		t.Errorf("receptor nodes still run after destroy: pids %s", out)
	}
	_ = os.Remove(crm2)
}
