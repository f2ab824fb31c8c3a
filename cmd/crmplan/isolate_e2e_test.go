package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// TestApplyIsolated applies seed 000 with --isolate (root on Linux): every
// host in its own network namespace, zones on 10.59.N.0/24. k6 verifies the
// stack through the DMZ; from inside the hosts' namespaces web-1 cannot
// open db-primary-1:5432 (the router refuses it) while api-1 can; this
// machine has an unreachable route to the LAN, so api-1 cannot be reached
// from it and no packet for it leaves; destroy leaves no namespace, link or
// route, even after an api server was killed under load and the database
// failed over (chaosKillAPIServerIsolated, on this stack). With
// CRMPLAN_BENCH_ISOLATE=1 it also applies the same plan without --isolate,
// for BENCHMARKS.md's apply times of the same run.
func TestApplyIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL and k6 in network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("--isolate needs root")
	}
	t.Parallel()
	e := newIsolatedEnv(t) // skips where there are no network namespaces
	plan := examplePlan(t, "simplecrm")
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}
	_, took := e.apply(plan, "--isolate")
	t.Logf("apply --isolate of seed 000 from nothing: %.1fs", took.Seconds())

	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	hosts := map[string]provision.HostStatus{}
	for _, h := range st.Hosts {
		hosts[h.Name] = h
		if h.Namespace == "" || !h.Healthy {
			t.Errorf("status: %s namespace %q, healthy %v (%s)", h.Name, h.Namespace, h.Healthy, h.Health)
		}
		if !strings.HasPrefix(h.Address, "10.59.") {
			t.Errorf("status: %s at %s, want 10.59.N.x", h.Name, h.Address)
		}
	}
	web, api, db := hosts["web-1"], hosts["api-1"], hosts["db-primary-1"]
	if web.Namespace == "" || api.Namespace == "" || db.Namespace == "" {
		t.Fatalf("status lacks web-1, api-1 or db-primary-1: %+v", st.Hosts)
	}

	// crmplan probe: every pair of hosts on every port, from inside the
	// hosts, as the links plan it.
	pm := probeAsPlanned(t, e, plan)
	checkMarketingProbed(t, pm)
	// The probe is kept for the report, whose network policy section
	// shows it.
	if _, err := os.Stat(paths.ProbeResult()); err != nil {
		t.Errorf("crmplan probe left no result: %v", err)
	}
	reportDir := t.TempDir()
	if out, err := exec.Command(e.crmplan, "report", "--plan", plan, "--state-dir", e.stateDir, "--out", reportDir).CombinedOutput(); err != nil {
		t.Errorf("crmplan report: %v\n%s", err, out)
	} else {
		var rep struct {
			Network struct {
				Missing     string `json:"missing"`
				Isolated    bool   `json:"isolated"`
				Cells       int    `json:"cells"`
				Differences int    `json:"differences"`
			} `json:"network"`
		}
		data, err := os.ReadFile(filepath.Join(reportDir, "report.json"))
		if err == nil {
			err = json.Unmarshal(data, &rep)
		}
		if n := rep.Network; err != nil || n.Missing != "" || !n.Isolated || n.Cells != len(pm.Cells) || n.Differences != 0 {
			t.Errorf("report's network section: %+v (%v), want the probe's %d cells, isolated, no difference", n, err, len(pm.Cells))
		}
	}

	verifyAtRate(t, e, plan, paths)

	dbAddr := net.JoinHostPort(db.Address, "5432")
	// Inside the stack: a host's route to another zone is its router.
	if r := inNamespace(t, web.Namespace, "ip", "-4", "route", "get", db.Address); !strings.Contains(r.out, "dev eth0") || r.err != nil {
		t.Errorf("web-1's route to %s: %v %s, want through its eth0 into the router", db.Address, r.err, r.out)
	}
	if r := tcpConnect(t, web.Namespace, dbAddr); r.err == nil || !strings.Contains(r.out, "No route to host") {
		t.Errorf("web-1 -> db-primary-1:5432: %v %s, want refused by the router (no route to host)", r.err, r.out)
	}
	if r := tcpConnect(t, api.Namespace, dbAddr); r.err != nil {
		t.Errorf("api-1 -> db-primary-1:5432: %v %s, want connected", r.err, r.out)
	}
	// From this machine: the LAN's route is unreachable, so the connect
	// fails at once and no packet leaves.
	lan := lanRange(t, api.Address)
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all", lan).CombinedOutput()
	if !strings.HasPrefix(strings.TrimSpace(string(routes)), "unreachable "+lan) {
		t.Fatalf("this machine's route to %s: %q, want unreachable (not dialling api-1)", lan, routes)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(api.Address, fmt.Sprint(api.Port)), 2*time.Second)
	if err == nil {
		c.Close()
		t.Errorf("this machine -> api-1: connected, want no route")
	} else if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("this machine -> api-1: %v, want no route to host", err)
	}

	// On the same stack (one apply --isolate less): an api server killed
	// under load, then a manual failover. Destroy comes after it, from
	// that state.
	t.Run("ChaosKillAPIServer", func(t *testing.T) { chaosKillAPIServerIsolated(t, e.in(t), plan) })

	if out, err := e.exec("destroy", "--stack", "simplecrm", "--yes"); err != nil {
		t.Fatalf("crmplan destroy: %v\n%s", err, out)
	}
	checkIsolatedGone(t, strings.TrimSuffix(web.Namespace, "-web-1"), "10.59.")
	checkNothingLeftLocally(t, e.stateDir)

	if os.Getenv("CRMPLAN_BENCH_ISOLATE") != "" {
		_, plain := e.apply(plan)
		t.Logf("apply of seed 000 from nothing, same run: --isolate %.1fs, without %.1fs (%.2fx)",
			took.Seconds(), plain.Seconds(), took.Seconds()/plain.Seconds())
	}
}

// checkIsolatedGone: nothing of the isolated stack whose router namespace
// is router and whose zones are in net (10.N.) is left: no namespace (the
// hosts', whose veths' ends and the bridges were in them, or the
// router's, which held the nftables table), no uplink, no route, and no
// crmplan nftables table in this machine's own namespace.
func checkIsolatedGone(t *testing.T, router, net string) {
	t.Helper()
	entries, _ := os.ReadDir("/run/netns")
	for _, n := range entries {
		if strings.HasPrefix(n.Name(), router) {
			t.Errorf("namespace %s left after destroy", n.Name())
		}
	}
	links, _ := exec.Command("ip", "-o", "link").CombinedOutput()
	if uplink := strings.ReplaceAll(router, "-", ""); strings.Contains(string(links), uplink) {
		t.Errorf("uplink %s left after destroy:\n%s", uplink, links)
	}
	if routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput(); strings.Contains(string(routes), net) {
		t.Errorf("routes to %s0.0/16 left after destroy:\n%s", net, routes)
	}
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatalf("nftables of this machine's namespace: %v", err)
	}
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, "crmplan") {
			t.Errorf("nftables table %s left in this machine's namespace", tb.Name)
		}
	}
}

type nsResult struct {
	out string
	err error
}

// inNamespace runs a command inside namespace ns.
func inNamespace(t *testing.T, ns string, args ...string) nsResult {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	return nsResult{string(out), err}
}

// tcpConnect opens a TCP connection to addr from inside namespace ns
// (bash's /dev/tcp), waiting 5 s at most.
func tcpConnect(t *testing.T, ns, addr string) nsResult {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	return inNamespace(t, ns, "timeout", "5", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port))
}

// lanRange is the /24 of addr.
func lanRange(t *testing.T, addr string) string {
	t.Helper()
	return mustPrefix(addr + "/24").Masked().String()
}

// probeAsPlanned runs crmplan probe on the stack of plan and fails the
// test unless every cell is as the plan's links say.
func probeAsPlanned(t *testing.T, e *deployEnv, plan string) provision.ProbeMatrix {
	t.Helper()
	probeOut, err := exec.Command(e.crmplan, "probe", "--plan", plan, "--state-dir", e.stateDir, "--output", "json").Output()
	var pm provision.ProbeMatrix
	if jerr := json.Unmarshal(probeOut, &pm); jerr != nil {
		t.Errorf("crmplan probe: %v, %v\n%s", err, jerr, probeOut)
	} else if err != nil || pm.Differences != 0 || len(pm.Cells) == 0 {
		for _, c := range pm.Cells {
			if !c.Match {
				t.Logf("probe: %s -> %s:%d planned %v, measured %s", c.From, c.To, c.Port, c.Planned, c.Measured)
			}
		}
		t.Errorf("crmplan probe: %v, %d of %d cells differ from the plan", err, pm.Differences, len(pm.Cells))
	} else {
		reached := 0
		for _, c := range pm.Cells {
			if c.Reached {
				reached++
			}
		}
		t.Logf("crmplan probe: %d cells as planned, %d reached, ports %v", len(pm.Cells), reached, pm.Ports)
	}
	return pm
}

// verifyAtRate runs crmplan verify (k6) for 10 s on the stack of plan and
// fails the test unless every request was served at the target rate.
func verifyAtRate(t *testing.T, e *deployEnv, plan string, paths stackdir.Paths) {
	t.Helper()
	release := e.measure()
	out, err := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir,
		"--duration", "10s", "--ramp-up", "3s").CombinedOutput()
	release()
	t.Logf("crmplan verify:\n%s", out)
	if err != nil {
		t.Errorf("crmplan verify: %v", err)
	} else if res, err := loadgen.LoadResult(paths.LatestResult()); err != nil {
		t.Error(err)
	} else if res.Requests == 0 || res.Failed != 0 || res.AchievedRate < 0.95*res.TargetRate {
		t.Errorf("verify: %d requests, %d failed, %.2f of %.2f req/s; want all served at the rate",
			res.Requests, res.Failed, res.AchievedRate, res.TargetRate)
	}
}

// checkNothingLeftLocally: the state dir is gone and no process runs from
// it (checkNothingLeft's checks that dial no address).
func checkNothingLeftLocally(t *testing.T, stateDir string) {
	t.Helper()
	checkNothingLeft(t, stateDir, nil)
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
