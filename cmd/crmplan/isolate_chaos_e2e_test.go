package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/netns"
)

// newIsolatedEnv is newDeployEnv for a test whose stack is applied with
// --isolate: skipped without root or network namespaces, and whatever
// happens the stack's namespaces, router and routes go with it.
func newIsolatedEnv(t *testing.T) *deployEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL and k6 in network namespaces")
	}
	lan := "10." + strings.TrimPrefix(ownRange(t), "127.") + "2.0/24"
	if err := (netns.Target{}).CheckRange("lan", mustPrefix(lan)); err != nil {
		t.Skipf("no isolated hosts here: %v", err)
	}
	e := newDeployEnv(t)
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}
	t.Cleanup(func() {
		_, _ = e.exec("destroy", "--stack", "simplecrm", "--yes")
		_ = netns.Target{Stack: paths.HostsDir()}.DestroyStack(context.Background())
	})
	return e
}

// chaosKillAPIServerIsolated is chaosKillAPIServer on an isolated stack
// (TestApplyIsolated's): k6 drives it through the DMZ's published ports,
// the kill goes through the mesh, and the write ledger is read back by a
// unit on the primary's host, since this machine has no route to the LAN.
// Then a manual crmplan failover, whose lag check and fence check the
// replica's host makes: a write acknowledged before is read back through
// the DMZ after, and new writes land.
func chaosKillAPIServerIsolated(t *testing.T, e *deployEnv, plan string) {
	chaosKillAPIServer(t, e, plan)

	failoverKeepsWrites(t, e, plan, "isolated")
}

// TestChaosPrimaryLossIsolated is TestChaosPrimaryLossSyncAndAsync on
// isolated stacks: the watchdog runs in the replica's namespace and
// reaches the primary only as the links allow (replica -> primary:5432).
// Asynchronous replication is TestApplyIsolatedKilledMidway's stack.
func TestChaosPrimaryLossIsolated(t *testing.T) {
	t.Parallel()
	t.Run("sync", func(t *testing.T) {
		e := newIsolatedEnv(t)
		plan := isolatedFailoverPlan(t, "sync")
		e.apply(plan, "--isolate")
		chaosPrimaryLoss(t, e, plan, "sync")
	})
}

// isolatedFailoverPlan is seed 000 on the test's range with replication
// mode and failover: automatic.
func isolatedFailoverPlan(t *testing.T, mode string) string {
	return rewritePlan(t, examplePlan(t, "simplecrm"), "    replication: async\n", "    replication: "+mode+"\n    failover: automatic\n")
}

// TestApplyIsolatedKilledMidway kill -9s `crmplan apply --isolate` (a
// process of bin/crmplan) once the stack's namespaces, router and routes
// exist and its primary is created, with the rest half made; the next
// apply converges to a healthy stack. That stack (seed 000 with an
// asynchronous replica and failover: automatic) then loses its primary
// under load (TestChaosPrimaryLossIsolated's async case), and destroy
// leaves no namespace, veth, bridge, route or nftables table.
func TestApplyIsolatedKilledMidway(t *testing.T) {
	t.Parallel()
	e := newIsolatedEnv(t)
	plan := isolatedFailoverPlan(t, "async")
	var out bytes.Buffer
	release := e.work()
	cmd := e.start(&out, "apply", "--plan", plan, "--isolate", "--yes", "--records", "500")
	waitOutput(t, &out, "created    PostgresPrimary", 3*time.Minute)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	release()
	t.Logf("killed apply --isolate:\n%s", out.String())
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}
	ns, err := netns.Target{}.Namespace(target.Host{Name: "web-1", Dir: paths.HostDir("web-1")})
	if err != nil {
		t.Fatal(err)
	}
	router := strings.TrimSuffix(ns, "-web-1")
	if _, err := os.Stat("/run/netns/" + router); err != nil {
		t.Fatalf("the killed apply made no router namespace %s (%v): it was not killed midway", router, err)
	}

	res, took := e.apply(plan, "--isolate")
	t.Logf("apply --isolate after kill -9: %.1fs, changes %v", took.Seconds(), res.Changes)
	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	if len(st.Hosts) != len(res.Hosts) || len(st.Hosts) == 0 {
		t.Errorf("status: %d hosts, apply: %d", len(st.Hosts), len(res.Hosts))
	}
	for _, h := range st.Hosts {
		if !h.Healthy || !strings.HasPrefix(h.Namespace, router+"-") {
			t.Errorf("after the re-apply %s is healthy %v (%s) in namespace %q, want healthy in %s-*", h.Name, h.Healthy, h.Health, h.Namespace, router)
		}
	}
	invAfter, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	checkUI(t, invAfter) // over HTTPS, trusting the stack's CA

	t.Run("ChaosPrimaryLoss", func(t *testing.T) { chaosPrimaryLoss(t, e.in(t), plan, "async") })

	if out, err := e.exec("destroy", "--stack", "simplecrm", "--yes"); err != nil {
		t.Fatalf("crmplan destroy: %v\n%s", err, out)
	}
	checkIsolatedGone(t, router, "10."+strings.TrimPrefix(ownRange(t), "127."))
	checkNothingLeftLocally(t, e.stateDir)
}
