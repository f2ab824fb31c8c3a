package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// deployEnv is a crmplan binary, its sibling crm and pulumi, and a state dir.
type deployEnv struct {
	t        testing.TB
	crmplan  string
	stateDir string
	args     []string // --state-dir, --pulumi, --crm
	// applied is what the last apply wrote on stderr (its progress).
	applied string
	// cpu is the test's lease on the machine's cores, shared with the
	// copies in() makes for subtests.
	cpu *cpuHold
}

// cpuHold is a deployEnv's lease on the machine's cores (cpulease): its
// measurements hold them alone, its applies and destroys share them with
// other tests' work. While the test measures, what else it runs (the apply
// a verify measures) is part of the measurement and takes no lease.
type cpuHold struct {
	mu        sync.Mutex
	measuring int
}

// measure holds the machine's cores for the test alone until the returned
// func is called (or the test ends). Calls nest.
func (e *deployEnv) measure() (release func()) {
	e.t.Helper()
	h := e.cpu
	h.mu.Lock()
	h.measuring++
	first := h.measuring == 1
	h.mu.Unlock()
	var lease *cpulease.Lease
	if first {
		lease = cpulease.Measure(e.t)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.measuring--
			h.mu.Unlock()
			if lease != nil {
				lease.Release()
			}
		})
	}
}

// work takes a share of the machine's cores for an unmeasured apply or
// destroy, unless the test is measuring (then the work is part of it).
func (e *deployEnv) work() (release func()) {
	e.t.Helper()
	h := e.cpu
	h.mu.Lock()
	measuring := h.measuring > 0
	h.mu.Unlock()
	if measuring {
		return func() {}
	}
	return cpulease.Work(e.t).Release
}

// hold is the lease a crmplan command needs: verify measures, apply and
// destroy work; the others are light.
func (e *deployEnv) hold(command string) (release func()) {
	switch command {
	case "verify":
		return e.measure()
	case "apply", "destroy":
		return e.work()
	}
	return func() {}
}

// newDeployEnv uses crmplan and crm built from this tree (the crmplan
// binary is also the Pulumi provider plugin and the supervisor), the Pulumi
// CLI `make bin/pulumi` built and a state dir of its own.
func newDeployEnv(t testing.TB) *deployEnv {
	t.Helper()
	pulumi, err := filepath.Abs("../../bin/pulumi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pulumi); err != nil {
		t.Skipf("no Pulumi CLI at %s: run make bin/pulumi", pulumi)
	}
	if _, err := os.Stat(filepath.Join(pgserver.DefaultBin, "postgres")); err != nil {
		t.Skip("no PostgreSQL 15 server binaries (make deps)")
	}
	ownRange(t) // taken before the cleanup below destroys the stack on it
	bin := buildBinaries(t)
	// Not t.TempDir: PostgreSQL runs as the postgres user when we are root
	// and must pass through every parent of its data directory.
	root, err := os.MkdirTemp("/tmp", "crmplan-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	stateDir := filepath.Join(root, "state")
	e := &deployEnv{t: t, crmplan: filepath.Join(bin, "crmplan"), stateDir: stateDir, cpu: &cpuHold{},
		args: []string{"--state-dir", stateDir, "--pulumi", pulumi, "--crm", filepath.Join(bin, "crm")}}
	t.Cleanup(func() {
		// Whatever happened, leave no server running.
		_, _ = e.exec("destroy", "--stack", "simplecrm", "--yes")
		_ = os.RemoveAll(root)
	})
	return e
}

// in is e for a subtest of the test that made it: its helpers report
// failures to t (FailNow must be called from t's own goroutine).
func (e *deployEnv) in(t testing.TB) *deployEnv {
	c := *e
	c.t = t
	return &c
}

// start runs `crmplan CMD ARGS... <common flags>` and returns it running.
func (e *deployEnv) start(out *bytes.Buffer, args ...string) *exec.Cmd {
	cmd := exec.Command(e.crmplan, append(args, e.args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd
}

// exec runs `crmplan CMD ARGS... <common flags>` to its end, holding the
// lease the command needs (hold).
func (e *deployEnv) exec(args ...string) (string, error) {
	defer e.hold(args[0])()
	var out bytes.Buffer
	err := e.start(&out, args...).Wait()
	return out.String(), err
}

// json runs a command with --output json and decodes its stdout into v.
func (e *deployEnv) json(v any, args ...string) {
	e.t.Helper()
	defer e.hold(args[0])()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(e.crmplan, append(append(args, "--output", "json"), e.args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("crmplan %s: %v\n%s", args[0], err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		e.t.Fatalf("crmplan %s --output json: %v\n%s", args[0], err, stdout.String())
	}
}

// apply runs apply --output json and decodes its result.
func (e *deployEnv) apply(plan string, extra ...string) (applyOutput, time.Duration) {
	e.t.Helper()
	defer e.work()()
	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(e.crmplan, append(append([]string{"apply", "--plan", plan, "--yes", "--records", "500", "--output", "json"}, extra...), e.args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	took := time.Since(start)
	e.t.Logf("crmplan apply (%.1fs):\n%s", took.Seconds(), stderr.String())
	e.applied = stderr.String()
	if err != nil {
		e.t.Fatalf("crmplan apply: %v", err)
	}
	var res applyOutput
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		e.t.Fatalf("apply --output json: %v\n%s", err, stdout.String())
	}
	return res, took
}

// TestApplySimpleCRM deploys seed 000 for real (Pulumi with crmplan's
// provider, PostgreSQL primary + replica, the crm roles through the mesh)
// the hard way: the first apply is killed with kill -9 half-way and the
// next one converges; then a scale-out by one api server is interrupted
// with SIGINT and the next apply finishes it; destroy leaves nothing.
// What a first apply deploys, and that the next changes nothing, is
// checked on TestSharedSimpleCRM's stack (firstApplyChecks).
func TestApplySimpleCRM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi and PostgreSQL")
	}
	t.Parallel()
	e := newDeployEnv(t)
	// Seed 000 on its own loopback ranges (e2eRanges): a demo stack of the
	// example may be running on this machine, other tests run alongside.
	plan := examplePlan(t, "simplecrm")

	// kill -9 in the middle of a first apply: the engine, the plugin and
	// half the hosts are left behind; the next apply converges.
	var out bytes.Buffer
	release := e.work()
	cmd := e.start(&out, "apply", "--plan", plan, "--yes", "--records", "500")
	waitOutput(t, &out, "created    PostgresPrimary", 2*time.Minute)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	release()
	t.Logf("killed apply:\n%s", out.String())
	res, took := e.apply(plan)
	t.Logf("BENCH apply after a kill -9 mid-way %.1fs", took.Seconds())
	if len(res.Hosts) != 10 {
		t.Fatalf("apply after kill -9: %d hosts, want 10", len(res.Hosts))
	}
	inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	checkUI(t, inv)
	checkStatus(t, e)

	// 3 api servers instead of 2: exactly one more host (and its crm api);
	// the web tier is updated with the new backend. A SIGINT mid-way stops
	// Pulumi cleanly; the next apply finishes the job.
	bigger := scaledPlan(t, plan, 3)
	var pv struct {
		Changes map[string]int
		Cost    topology.CostChange
	}
	e.json(&pv, "preview", "--plan", bigger)
	if pv.Changes["create"] != 2 || pv.Changes["delete"]+pv.Changes["replace"] != 0 {
		t.Errorf("preview of 3 api servers: %v, want exactly Host api-3 and its CrmService created, nothing replaced", pv.Changes)
	}
	// The cost of the change is the one new app server, priced against
	// what the first apply recorded in the inventory.
	if h := pv.Cost.Hosts; len(h) != 1 || h[0].Op != "+" || h[0].Host != "api-3" || h[0].Delta <= 0 || pv.Cost.Delta != h[0].Delta {
		t.Errorf("preview's cost of 3 api servers: %+v, want one line + api-3 and that as the total change", pv.Cost)
	}
	out.Reset()
	release = e.work()
	cmd = e.start(&out, "apply", "--plan", bigger, "--yes", "--records", "500")
	waitOutput(t, &out, "created    Host api-3", 2*time.Minute)
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	release()
	t.Logf("interrupted apply:\n%s", out.String())
	res, _ = e.apply(bigger)
	if len(res.Hosts) != 11 || res.Changes["delete"]+res.Changes["replace"] != 0 {
		t.Errorf("apply after SIGINT: %d hosts, changes %v; want 11 hosts, nothing deleted or replaced", len(res.Hosts), res.Changes)
	}
	checkUI(t, inv)
	// The interrupted up forgot the last one's record before it began.
	if !strings.Contains(e.applied, "pulumi: running: no record of an up that completed") {
		t.Errorf("apply after SIGINT did not run Pulumi for want of a record")
	}
	if res, _ = e.apply(bigger); res.PulumiRan || res.Unchanged == nil || res.Unchanged.HostsChecked != 11 {
		t.Errorf("apply of 3 api servers again: Pulumi ran %v, unchanged %+v; want it skipped after checking 11 hosts", res.PulumiRan, res.Unchanged)
	}

	if out, err := e.exec("destroy", "--plan", bigger, "--yes"); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	checkNothingLeft(t, e.stateDir, res.Hosts)
}

// firstApplyChecks: what the first apply of seed 000 (res) deployed
// serves: the UI and the API through the DMZ over HTTPS, no secret on a
// command line, every seeded user's own password, a row written through
// the web tier read back on the replica, the marketing server; and the
// next apply changes nothing. TestSharedSimpleCRM's first step.
func firstApplyChecks(t *testing.T, e *deployEnv, plan string, res applyOutput) {
	if !res.Changed || len(res.Hosts) != 10 {
		t.Fatalf("first apply: changed=%v hosts=%d, want changes and 10 hosts", res.Changed, len(res.Hosts))
	}
	inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	checkUI(t, inv)
	checkWebTLS(t, inv)
	checkNoSecretInArgv(t, e.stateDir, inv)
	checkSeededPasswords(t, inv)
	marker := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	createAccount(t, inv, marker)
	checkOnReplica(t, inv, marker)
	checkMarketing(t, inv)

	again, took := e.apply(plan)
	t.Logf("BENCH no-change-apply %.1fs", took.Seconds())
	if again.Changed {
		t.Fatalf("second apply changed %v, want no changes", again.Changes)
	}
	// Nothing changed since the first apply's up, and no host drifted:
	// Pulumi is not run at all.
	if again.PulumiRan || again.Unchanged == nil || again.Unchanged.HostsChecked != 10 || !strings.Contains(e.applied, "apply: nothing to do: inputs unchanged since") {
		t.Errorf("second apply: Pulumi ran %v, unchanged %+v; want it skipped after checking the 10 hosts", again.PulumiRan, again.Unchanged)
	}
	checkStatus(t, e)
}

func checkUI(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	webURL := inv.WebURL
	res, err := webClient(t, inv).Get(webURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(body.String()), "<html") {
		t.Fatalf("GET %s: %s, want the UI's HTML\n%.300s", webURL, res.Status, body.String())
	}
}

// createAccount signs in as the load-test user through crm web (the DMZ
// load balancer) and creates an account named marker.
func createAccount(t *testing.T, inv stackdir.Inventory, marker string) {
	t.Helper()
	client := webClient(t, inv)
	post := func(path string, body any) *http.Response {
		b, _ := json.Marshal(body)
		res, err := client.Post(inv.WebURL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post("/api/v1/session", map[string]string{"email": inv.LoadUser.Email, "password": inv.LoadUser.Password}); res.StatusCode != http.StatusOK {
		t.Fatalf("sign in through %s: %s", inv.WebURL, res.Status)
	}
	if res := post("/api/v1/accounts", map[string]string{"name": marker}); res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		t.Fatalf("create account through %s: %s", inv.WebURL, res.Status)
	}
}

// checkOnReplica reads the row the API wrote on the primary from the replica.
func checkOnReplica(t *testing.T, inv stackdir.Inventory, marker string) {
	t.Helper()
	servers := map[string]*pgserver.Server{}
	for _, h := range inv.Hosts {
		if h.Role == "db-primary" || h.Role == "db-replica" {
			srv, err := pgserver.Open(provision.PostgresDir(h.Dir))
			if err != nil {
				t.Fatal(err)
			}
			servers[h.Role] = srv
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := servers["db-primary"].WaitReplayed(ctx, servers["db-replica"]); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, servers["db-replica"].URL("crm"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM accounts WHERE name = $1", marker).Scan(&n); err != nil || n != 1 {
		t.Fatalf("replica has %d accounts named %s (%v), want 1", n, marker, err)
	}
}

func checkStatus(t *testing.T, e *deployEnv) {
	t.Helper()
	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	checkMeshStatus(t, st, inv)
	if st.WebURL == "" {
		t.Error("status has no web URL")
	}
	if !strings.HasPrefix(st.Web, "HTTPS 200 OK, certificate valid until ") {
		t.Errorf("status: web %q, want its HTTPS answer trusting the stack's CA", st.Web)
	}
	for _, h := range st.Hosts {
		if !h.Healthy {
			t.Errorf("status: %s unhealthy: %s", h.Name, h.Health)
		}
		if h.Role == "db-replica" && (h.Replication == nil || h.Replication.State != "streaming") {
			t.Errorf("status: replica %s replication %+v, want streaming", h.Name, h.Replication)
		}
	}
}

// scaledPlan writes a copy of plan with n api servers.
func scaledPlan(t *testing.T, plan string, n int) string {
	t.Helper()
	return rewritePlan(t, plan, "  - role: api\n    zone: lan\n    min: 2\n", fmt.Sprintf("  - role: api\n    zone: lan\n    min: %d\n", n))
}

// rewritePlan writes a copy of plan with old replaced by new.
func rewritePlan(t testing.TB, plan, old, new string) string {
	t.Helper()
	data, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.ReplaceAll(string(data), old, new)
	if changed == string(data) {
		t.Fatalf("%s: no %q to replace", plan, old)
	}
	path := filepath.Join(t.TempDir(), "simplecrm.yaml")
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitOutput(t *testing.T, out *bytes.Buffer, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output within %s:\n%s", want, timeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNothingLeft: no state dir, no listening port, no process started
// from the state dir.
func checkNothingLeft(t *testing.T, stateDir string, hosts []stackdir.InventoryHost) {
	t.Helper()
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("state dir %s still exists (%v)", stateDir, err)
	}
	for _, h := range hosts {
		if h.Port == 0 {
			continue
		}
		addr := net.JoinHostPort(h.Address, fmt.Sprint(h.Port))
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s (%s) still listening after destroy", addr, h.Name)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(stateDir)) {
			t.Errorf("process %s still runs from the state dir: %s", p, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}
