package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/provision/target/ssh/sshtest"
	"github.com/crmplan/crmplan/provision/watchdog"
	"github.com/crmplan/crmplan/topology"
)

// autoFailoverSSH applies seed 000 with failover: automatic onto the rig's
// bare machines (the manual stack was destroyed before): the replica's
// machine runs the watchdog and the primary's the lease guard, which
// refuses a fence signed with another secret, sent from the replica's own
// machine (the one the policy lets through). Then the primary's machine
// is killed through the mesh under k6 (verify --chaos): the watchdog
// cannot reach the guard, waits out the lease, promotes the replica on its
// machine and records it there; writes succeed again, status and the
// stack's failover record (fetched through the replica's agent) name the
// promoted replica, and the next apply keeps it the primary.
func autoFailoverSSH(t *testing.T, e *deployEnv, plan, inventory string, rig *sshtest.Rig, topo topology.Topology) {
	auto := rewritePlan(t, plan, "    replication: async\n", "    replication: async\n    failover: automatic\n")
	// The replica's machine reaches the primary's guard besides the rest.
	rules, err := provision.Connections(provision.Request{StateDir: t.TempDir(), Stack: "simplecrm", Topology: topo,
		Target: ssh.Name, Inventory: inventory, Failover: topology.Automatic})
	if err != nil {
		t.Fatal(err)
	}
	if err := rig.Allow(context.Background(), rules); err != nil {
		t.Fatal(err)
	}
	_, took := e.apply(auto, "--target", "ssh", "--inventory", inventory)
	t.Logf("apply --target ssh with failover: automatic from bare machines: %.1fs", took.Seconds())
	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	if !runs(st, "db-primary-1", "guard") || !runs(st, "db-replica-1", "watchdog") {
		t.Fatalf("status: want the guard running on db-primary-1 and the watchdog on db-replica-1: %+v", st.Hosts)
	}
	inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	var primary string
	dir := map[string]string{} // the hosts' directories on their machines
	for _, h := range inv.Hosts {
		dir[h.Name] = h.Dir
		if h.Name == "db-primary-1" {
			primary = h.Address
		}
	}

	// The attack: the replica's machine (which may reach the guard) with
	// a secret that is not the stack's.
	cmd := exec.Command("ip", "netns", "exec", rig.Namespace("db-replica-1"), os.Args[0], "-test.run", "^TestLeaseAttackHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "CRMPLAN_LEASE_ATTACK="+fmt.Sprintf("%s:%d", primary, provision.GuardPort))
	out, err := cmd.CombinedOutput()
	t.Logf("lease attack from db-replica-1's machine:\n%s", out)
	if err != nil || !strings.Contains(string(out), "refused") {
		t.Fatalf("a fence under another secret was not refused by the guard: %v", err)
	}
	guardLog, _ := os.ReadFile(filepath.Join(dir["db-primary-1"], "guard.log"))
	if !strings.Contains(string(guardLog), "not signed with the stack's lease secret") {
		t.Errorf("the guard's log does not name the refused fence:\n%s", guardLog)
	}
	e.json(&st, "status", "--stack", "simplecrm")
	for _, h := range st.Hosts {
		if h.Name == "db-primary-1" && (!h.Healthy || h.Role != "db-primary") {
			t.Fatalf("after the refused fence db-primary-1 is %s, healthy %v (%s)", h.Role, h.Healthy, h.Health)
		}
	}

	start := time.Now()
	res := chaosVerify(t, e, auto, "kill:db-primary@5s", "35s")
	t.Logf("verify --chaos of the ssh stack: %.1fs", time.Since(start).Seconds())
	f := res.Availability.Faults[0]
	t.Logf("BENCH ssh automatic failover (lease %s): RTO %.1f s, %d of %d requests failed (by class %v), ledger %d acknowledged, %d lost (async)",
		watchdog.DefaultLease, f.RTOS, res.Failed, res.Requests, f.Failed, res.Availability.Ledger.Acked, res.Availability.Ledger.Lost)
	if f.Host != "db-primary-1" || !f.Recovered {
		t.Errorf("fault %+v: want db-primary-1 killed and requests served again before the end", f)
	}
	if !res.Availability.Ledger.Checked || res.Availability.Ledger.Acked == 0 {
		t.Errorf("ledger %+v: want acknowledged writes checked against the promoted primary", res.Availability.Ledger)
	}
	wdLog, _ := os.ReadFile(filepath.Join(dir["db-replica-1"], "watchdog.log"))
	t.Logf("watchdog log on db-replica-1:\n%s", wdLog)
	onHost, err := watchdog.LoadPromotionFile(filepath.Join(dir["db-replica-1"], wire.PromotionFile))
	if err != nil || onHost == nil || !onHost.Automatic || onHost.Promoted != "db-replica-1" || onHost.Retired != "db-primary-1" {
		t.Fatalf("promotion recorded on db-replica-1's machine: %+v (%v), want db-replica-1 promoted by the watchdog", onHost, err)
	}
	if !strings.Contains(string(wdLog), "waiting until its lease surely expired") {
		t.Errorf("the watchdog did not wait out the lease of the lost machine's guard")
	}

	// status fetches the record through the replica's agent.
	st = statusOf(t, e) // exit 1: the retired primary is down
	stack, err := watchdog.LoadPromotion(stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"})
	if err != nil || stack == nil || !stack.At.Equal(onHost.At) {
		t.Errorf("the stack's failover record %+v (%v), want the one on db-replica-1's machine", stack, err)
	}
	roles := map[string]string{}
	for _, h := range st.Hosts {
		roles[h.Name] = h.Role
	}
	if roles["db-replica-1"] != "db-primary" {
		t.Errorf("status after the automatic failover: roles %v, want db-replica-1 the primary", roles)
	}
	c := signIn(t, inv)
	if id := c.createAccount("after-auto-failover"); c.accountName(id) != "after-auto-failover" {
		t.Errorf("a write after the automatic failover does not read back")
	}

	// The next apply keeps the promoted replica the primary (and, having
	// failed over, runs no watchdog or guard).
	start = time.Now()
	again, _ := e.apply(auto, "--target", "ssh", "--inventory", inventory)
	t.Logf("apply after the automatic failover: %.1fs, changes %v", time.Since(start).Seconds(), again.Changes)
	st = statusOf(t, e) // exit 1: the retired primary is down
	for _, h := range st.Hosts {
		if h.Name == "db-replica-1" && (h.Role != "db-primary" || !h.Healthy) {
			t.Errorf("after the apply db-replica-1 is %s, healthy %v (%s); want the healthy primary", h.Role, h.Healthy, h.Health)
		}
	}
	if runs(st, "db-replica-1", "watchdog") {
		t.Errorf("a watchdog still runs on db-replica-1 after the failover's apply")
	}
	if id := c.createAccount("after-apply"); c.accountName(id) != "after-apply" {
		t.Errorf("a write after the apply does not read back")
	}
	if _, err := e.exec("destroy", "--stack", "simplecrm", "--yes"); err != nil {
		t.Errorf("destroy: %v", err)
	}
}

// statusOf is crmplan status --output json, whose exit 1 (a host
// unhealthy) is expected here.
func statusOf(t *testing.T, e *deployEnv) provision.Status {
	t.Helper()
	cmd := exec.Command(e.crmplan, append([]string{"status", "--stack", "simplecrm", "--output", "json"}, e.args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var st provision.Status
	if jerr := json.Unmarshal(out, &st); jerr != nil || (err != nil && cmd.ProcessState.ExitCode() != 1) {
		t.Fatalf("crmplan status: %v, %v\n%s%s", err, jerr, out, stderr.String())
	}
	return st
}

// runs tells whether status shows process name running on host.
func runs(st provision.Status, host, name string) bool {
	for _, h := range st.Hosts {
		for _, p := range h.Processes {
			if h.Name == host && p.Name == name && p.Running {
				return true
			}
		}
	}
	return false
}

// TestLeaseAttackHelper is not a test of its own: autoFailoverSSH runs it
// inside a rig machine's network namespace, where it sends the guard at
// $CRMPLAN_LEASE_ATTACK a fence and a renewal signed with a secret that is
// not the stack's. It fails unless the guard refuses both.
func TestLeaseAttackHelper(t *testing.T) {
	addr := os.Getenv("CRMPLAN_LEASE_ATTACK")
	if addr == "" {
		t.Skip("run by TestApplySSH inside a rig machine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	forged := []byte("not-the-stack-lease-secret-at-all")
	for _, verb := range []string{watchdog.VerbFence, watchdog.VerbRenew} {
		word, err := watchdog.SendLease(ctx, addr, "simplecrm", forged, verb)
		if !errors.Is(err, watchdog.ErrRefused) {
			t.Fatalf("%s under a forged secret: %q %v, want refused", verb, word, err)
		}
		fmt.Printf("%s under a forged secret: refused (%v)\n", verb, err)
	}
}
