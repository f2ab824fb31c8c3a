package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/provision/target/ssh/sshtest"
	"github.com/crmplan/crmplan/topology"
)

// TestApplySSH applies seed 000 with --target ssh onto the rig's machines:
// network namespaces in 10.66.N.0/24, each running Debian's sshd with its
// own host key, the LAN machines reached only through web-1 (via:). An
// inventory whose known_hosts has another key for db-primary-1 is refused
// with the host named before anything is written on any machine; then the
// stack is applied from bare machines (sshd only), crmplan probe finds
// every host pair as planned, k6 verifies it at the plan's 150 req/s
// through the DMZ, a second apply changes nothing (and logs in to no
// machine: the hosts' agents are asked through the mesh), a program whose
// supervisor was killed is seen through the mesh and restarted by the
// next apply, a new crm build rolls
// onto the machines under that load with no failed request, crmplan
// failover fences the primary and promotes the replica through the mesh
// (the api servers follow it and take writes), and destroy
// leaves the machines as they were: no process, no file, and no package
// listed as crmplan's (apply's --install-packages found them all there).
// Last, the plan with failover: automatic is applied onto the bare
// machines again and survives its primary machine's loss
// (autoFailoverSSH).
// The rig runs no systemd, so units are not checked here.
func TestApplySSH(t *testing.T) {
	e, plan, laid := newMachinesEnv(t, "the ssh rig's machines")
	// Every host a machine, all sharing this machine's filesystem: each has
	// its own install directory beside the state dir (PostgreSQL, as the
	// postgres user, passes through its parents).
	machinesDir := filepath.Join(filepath.Dir(e.stateDir), "machines")
	var machines []sshtest.Machine
	dmz, lan := mustPrefix("10.66.1.0/24"), mustPrefix("10.66.2.0/24")
	next := map[string]int{"dmz": 10, "lan": 10}
	for _, h := range laid.Topology.Hosts {
		m := sshtest.Machine{Name: h.Name, Zone: h.Zone, Dir: filepath.Join(machinesDir, h.Name)}
		zone := dmz
		if h.Zone != "dmz" {
			zone, m.Via = lan, "web-1"
		}
		m.Address = zone.Addr().Next()
		for range next[h.Zone] - 1 {
			m.Address = m.Address.Next()
		}
		next[h.Zone]++
		machines = append(machines, m)
	}
	rig := sshtest.New(t, sshtest.Config{Range: mustPrefix("10.66.0.0/16"), DMZ: dmz, LAN: lan, Machines: machines})
	inventory := rig.Inventory(t, "machines.yaml", nil)
	t.Cleanup(func() {
		// Whatever happened: nothing of the stack stays on the machines.
		_, _ = e.exec("destroy", "--stack", "simplecrm", "--yes")
		_ = os.RemoveAll(machinesDir)
	})

	// The stack's connections pass the rig's router, as a firewall of
	// these machines would let them.
	rules, err := provision.Connections(provision.Request{StateDir: t.TempDir(), Stack: "simplecrm", Topology: laid.Topology,
		Target: ssh.Name, Inventory: inventory})
	if err != nil {
		t.Fatal(err)
	}
	if err := rig.Allow(context.Background(), rules); err != nil {
		t.Fatal(err)
	}

	t.Run("WrongHostKeyRefusedBeforeAnything", func(t *testing.T) {
		_, other := rig.NewKey(t, "other-host-key")
		var known []string
		for _, m := range machines {
			key := rig.HostKeys[m.Name]
			if m.Name == "db-primary-1" {
				key = other
			}
			known = append(known, knownhosts.Line([]string{m.Address.String()}, key))
		}
		kh := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(kh, []byte(strings.Join(known, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(inventory)
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "machines.yaml")
		if err := os.WriteFile(bad, bytes.ReplaceAll(data, []byte(rig.KnownHosts), []byte(kh)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(e.crmplan, append([]string{"apply", "--plan", plan, "--yes", "--target", "ssh", "--inventory", bad}, e.args...)...)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != exitUsage ||
			!strings.Contains(string(out), "host db-primary-1") || !strings.Contains(string(out), "host key") || !strings.Contains(string(out), "Try:") {
			t.Fatalf("apply with a changed host key: exit %d, %v\n%s\nwant exit %d naming host db-primary-1's host key with a Try line", code, err, out, exitUsage)
		}
		t.Logf("refused:\n%s", out)
		for _, m := range machines {
			if _, err := os.Stat(m.Dir); !os.IsNotExist(err) {
				t.Errorf("refused apply left %s on %s (%v)", m.Dir, m.Name, err)
			}
		}
		if entries, _ := filepath.Glob("/var/lib/crmplan/ssh/simplecrm.*"); len(entries) > 0 {
			t.Errorf("refused apply wrote the machines' registry: %v", entries)
		}
	})
	if t.Failed() {
		return
	}

	// --install-packages: the database hosts' agents check postgresql-15
	// through the mesh, and install nothing, as the machines have it.
	_, took := e.apply(plan, "--target", "ssh", "--inventory", inventory, "--install-packages")
	t.Logf("apply --target ssh of seed 000 from bare machines (sshd only) to serving: %.1fs", took.Seconds())
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}
	for _, m := range machines {
		if _, err := os.Stat(filepath.Join(m.Dir, wire.PackagesFile)); !os.IsNotExist(err) {
			t.Errorf("%s lists packages crmplan installed (%v), but the machine had every one", m.Name, err)
		}
	}

	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	for _, h := range st.Hosts {
		if !h.Healthy || !strings.HasPrefix(h.Address, "10.66.") {
			t.Errorf("status: %s at %s healthy %v (%s)", h.Name, h.Address, h.Healthy, h.Health)
		}
	}

	probeAsPlanned(t, e, plan)
	verifyAtRate(t, e, plan, paths)

	// Without --install-packages one input changed: Pulumi runs, and
	// finds nothing to do (taking the permission back uninstalls nothing).
	again, tookAgain := e.apply(plan, "--target", "ssh", "--inventory", inventory)
	if again.Changed || !again.PulumiRan || !strings.Contains(e.applied, "pulumi: running: changed since the last up: layout") {
		t.Errorf("apply without --install-packages: changed %v, Pulumi ran %v; want Pulumi run for the changed layout, and no change", again.Changes, again.PulumiRan)
	}
	t.Logf("apply --target ssh, one input changed, nothing to change: %.1fs", tookAgain.Seconds())
	// The same again: nothing changed since, and the hosts did not
	// drift, so Pulumi is not run at all.
	again, tookAgain = e.apply(plan, "--target", "ssh", "--inventory", inventory)
	if again.Changed || again.PulumiRan || again.Unchanged == nil || again.Unchanged.HostsChecked != len(machines) {
		t.Errorf("a no-change apply: changed %v, Pulumi ran %v, unchanged %+v; want Pulumi skipped after checking all %d hosts",
			again.Changes, again.PulumiRan, again.Unchanged, len(machines))
	}
	t.Logf("no-change apply --target ssh: %.1fs", tookAgain.Seconds())
	// Deployed onto the same machines: drift and packages are asked of
	// the hosts' agents through the mesh, with no SSH login.
	if !strings.Contains(e.applied, "asked through the mesh") {
		t.Errorf("the no-change apply logged in to the machines over SSH; want them asked through the mesh")
	}

	t.Run("DriftSeenThroughTheMesh", func(t *testing.T) {
		driftSSH(t, e, plan, inventory, filepath.Join(machinesDir, "web-2"))
	})
	t.Run("RollingNewBuildUnderLoad", func(t *testing.T) { rollSSH(t, e, plan, inventory) })
	// Nothing of it reads the database machines' files here: the lag
	// check, the fence, the promotion and the repoint are units on their
	// hosts.
	t.Run("Failover", func(t *testing.T) { failoverKeepsWrites(t, e, plan, "ssh") })

	var destroyed struct {
		Changes map[string]int      `json:"changes"`
		Left    map[string][]string `json:"packages_left"`
	}
	e.json(&destroyed, "destroy", "--stack", "simplecrm", "--yes")
	if destroyed.Changes["delete"] == 0 || len(destroyed.Left) > 0 {
		t.Errorf("destroy: %+v; want deletes, and no package left as crmplan's (the machines had them all)", destroyed)
	}
	// Nothing outside the machines' install directories (dir:) either.
	if _, err := os.Stat(filepath.Dir(ssh.DefaultDir("simplecrm", "web-1"))); !os.IsNotExist(err) {
		t.Errorf("destroy left %s (%v)", filepath.Dir(ssh.DefaultDir("simplecrm", "web-1")), err)
	}
	for _, m := range machines {
		if _, err := os.Stat(m.Dir); !os.IsNotExist(err) {
			t.Errorf("destroy left %s on %s (%v)", m.Dir, m.Name, err)
		}
	}
	// The registry is the machines' (this machine's, on the rig): only
	// this stack's entries are this test's to check.
	if entries, _ := filepath.Glob("/var/lib/crmplan/ssh/simplecrm.*"); len(entries) > 0 {
		t.Errorf("destroy left the stack's entries in the machines' registry: %v", entries)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(machinesDir)) {
			t.Errorf("process %s still runs from a machine's install directory: %s", p, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	checkNothingLeftLocally(t, e.stateDir)

	t.Run("AutomaticFailover", func(t *testing.T) { autoFailoverSSH(t, e, plan, inventory, rig, laid.Topology) })
}

// rollSSH applies a new crm build onto the rig's machines while k6 holds
// the plan's rate through the DMZ: every request is served.
func rollSSH(t *testing.T, e *deployEnv, plan, inventory string) {
	crm2 := buildCrm(t, t.TempDir(), "2.0.0-ssh")
	// At most 180 s of load: long enough for the deploy on a machine shared
	// with other engineers' builds (load average 20-30 seen); the test
	// fails when the deploy outlasts it. At full rate before the deploy
	// begins: 8 s.
	_, took, lr, busy := applyUnderLoad(t, e, "simplecrm", plan, 180*time.Second, 8*time.Second, "--target", "ssh", "--inventory", inventory, "--crm", crm2)
	t.Logf("rolling apply --target ssh: %.1fs", took.Seconds())
	t.Logf("load during the rolling deploy: %.1f req/s achieved, %d requests, %d failed, %d dropped", lr.AchievedRate, lr.Requests, lr.Failed, lr.Dropped)
	if lr.Failed != 0 {
		t.Errorf("%d requests failed at %.1f of %.1f req/s during the rolling deploy, want 0: %v", lr.Failed, lr.AchievedRate, lr.TargetRate, lr.Errors)
		logK6Warnings(t, e.stateDir, "simplecrm")
	}
	atRate(t, "rolling deploy --target ssh", lr, 0.95, busy)
}

// newMachinesEnv is newDeployEnv with seed 000 on the test's range, as
// laid out, for a test whose machines are network namespaces (the ssh
// rig's, the EC2 instances' stand-ins): skipped under -short and when not
// root. It runs the test in parallel.
func newMachinesEnv(t *testing.T, machines string) (*deployEnv, string, topology.Laid) {
	t.Helper()
	if testing.Short() {
		t.Skipf("builds crmplan and crm, runs Pulumi, PostgreSQL and the crm roles on %s, network namespaces", machines)
	}
	if os.Geteuid() != 0 {
		t.Skipf("%s are network namespaces: root only", machines)
	}
	t.Parallel()
	e := newDeployEnv(t)
	plan := examplePlan(t, "simplecrm")
	p, err := readPlan(plan, "apply")
	if err != nil {
		t.Fatal(err)
	}
	laid, err := topology.Lay(p)
	if err != nil {
		t.Fatal(err)
	}
	return e, plan, laid
}

// driftSSH kills a supervised program of the host whose install directory
// is dir, supervisor first (as a crash of both would), and applies: the
// drift is seen through the mesh, Pulumi refreshes, and the program runs
// again.
func driftSSH(t *testing.T, e *deployEnv, plan, inventory, dir string) {
	proc := killSupervised(t, dir)
	host := filepath.Base(dir)
	res, took := e.apply(plan, "--target", "ssh", "--inventory", inventory)
	t.Logf("apply after %s's %s was killed: %.1fs, changes %v", host, proc.Name, took.Seconds(), res.Changes)
	if want := "refreshing: host " + host + " " + proc.Name + " is not running"; !strings.Contains(e.applied, want) || !strings.Contains(e.applied, "asked through the mesh") {
		t.Errorf("apply did not say %q after asking through the mesh", want)
	}
	if _, running := proc.Running(); !running {
		t.Errorf("%s on %s does not run after the apply", proc.Name, host)
	}
	if !res.PulumiRan || !strings.Contains(e.applied, "pulumi: running: no change of inputs, but host "+host) {
		t.Errorf("apply after the kill: Pulumi ran %v; want it run for the drift alone", res.PulumiRan)
	}
}

// killSupervised kill -9s the first supervised program of the host whose
// directory is dir, its supervisor first, and returns it.
func killSupervised(t *testing.T, dir string) supervise.Process {
	t.Helper()
	specs, _ := filepath.Glob(filepath.Join(dir, "*.spec.json"))
	if len(specs) == 0 {
		t.Fatalf("no supervised program in %s", dir)
	}
	proc, err := supervise.Load(specs[0])
	if err != nil {
		t.Fatal(err)
	}
	st, err := proc.ReadState()
	if err != nil || st.SupervisorPID == 0 {
		t.Fatalf("%s: state %+v, %v", proc.Name, st, err)
	}
	_ = syscall.Kill(st.SupervisorPID, syscall.SIGKILL)
	if st.ChildPID > 0 {
		_ = syscall.Kill(st.ChildPID, syscall.SIGKILL)
	}
	return proc
}
