package provision

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// dbTopology is a topology without the crm application: a primary and a
// replica in the LAN.
func dbTopology() topology.Topology {
	return topology.Topology{
		Zones: []topology.Zone{
			{Name: "dmz", Kind: topology.DMZ, CIDR: "127.77.1.0/24"},
			{Name: "lan", Kind: topology.LAN, CIDR: "127.77.2.0/24"},
		},
		Hosts: []topology.Host{
			{Name: "db-1", Role: topology.RoleDBPrimary, Zone: "lan", Port: 15432},
			{Name: "db-2", Role: topology.RoleDBReplica, Zone: "lan", Port: 15432},
		},
	}
}

// testStateDir is a state dir the postgres user can reach when we are root.
func testStateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "crmplan-provision-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "state")
}

func testRequest(t *testing.T, stateDir string, out *bytes.Buffer) Request {
	return Request{
		StateDir: stateDir, Stack: "dbonly", Topology: dbTopology(),
		Settings:    sizing.PGSettings{SharedBuffers: "32MB", MaxConnections: 50},
		Replication: topology.Async,
		Bins:        Binaries{Self: testCrmplan(t), Pulumi: testPulumi(t)},
		Out:         out,
	}
}

// TestLocalDatabaseStack applies a primary + replica topology with the real
// Pulumi CLI and this binary as the provider, then checks replication,
// idempotence, repair of a killed supervisor, and a clean destroy.
func TestLocalDatabaseStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pulumi and PostgreSQL")
	}
	// Heavy work, not measured: beside other work, not beside a measurement.
	cpulease.Work(t)
	if _, err := os.Stat(filepath.Join(pgserver.DefaultBin, "postgres")); err != nil {
		t.Skip("no PostgreSQL 15 server binaries (make deps)")
	}
	// A guard against a hang, not a time goal: on a fresh machine beside
	// other suites the test ran out of a 5 min guard (341 s) in its
	// apply with synchronous replication.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	req := testRequest(t, testStateDir(t), &out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
		_, _ = Destroy(context.Background(), req)
	})

	res, err := Apply(ctx, req)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !Changed(res.Changes) || res.Changes["create"] < 5 {
		t.Fatalf("first apply changes = %v, want hosts, secrets and servers created", res.Changes)
	}
	paths := req.paths()
	checkReplicates(t, ctx, paths)
	st, err := GetStatus(ctx, req.StateDir, req.Stack)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.Hosts {
		if !h.Healthy {
			t.Errorf("status: host %s unhealthy: %s", h.Name, h.Health)
		}
		if h.Role == "db-replica" && (h.Replication == nil || h.Replication.State != "streaming" || h.Replication.SyncState != "async") {
			t.Errorf("status: replica %s replication = %+v, want streaming async", h.Name, h.Replication)
		}
	}

	out.Reset()
	res, err = Apply(ctx, req)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if Changed(res.Changes) {
		t.Fatalf("second apply changed %v, want no changes\n%s", res.Changes, out.String())
	}
	// Nothing changed since the first apply's up and no host drifted:
	// Pulumi is not run.
	if res.PulumiRan || res.Unchanged == nil || res.Unchanged.HostsChecked != len(req.Topology.Hosts) {
		t.Errorf("second apply: Pulumi ran %v, unchanged %+v; want it skipped after checking every host\n%s", res.PulumiRan, res.Unchanged, out.String())
	}
	// --refresh runs Pulumi all the same, and finds nothing to change.
	out.Reset()
	req.Refresh = true
	res, err = Apply(ctx, req)
	req.Refresh = false
	if err != nil || !res.PulumiRan || Changed(res.Changes) || !strings.Contains(out.String(), "refreshing: --refresh") {
		t.Errorf("apply with Refresh: Pulumi ran %v, changes %v, err %v; want a refresh and no change\n%s", res.PulumiRan, res.Changes, err, out.String())
	}

	// A supervisor killed with -9 takes postgres with it; the next apply
	// notices on refresh and starts it again.
	proc := agent.PostgresProcess(paths.HostDir("db-2"))
	pid, ok := proc.Running()
	if !ok {
		t.Fatal("replica supervisor not running")
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, ok := proc.Running(); !ok {
			break
		}
	}
	res, err = Apply(ctx, req)
	if err != nil {
		t.Fatalf("apply after kill: %v", err)
	}
	if res.Changes["update"] != 1 || !res.PulumiRan {
		t.Errorf("apply after kill changes = %v (Pulumi ran %v), want 1 update", res.Changes, res.PulumiRan)
	}
	if _, ok := proc.Running(); !ok {
		t.Error("replica not running again after apply")
	}
	checkReplicates(t, ctx, paths)

	// A deleted host directory is a deleted host: the next apply makes it
	// again, and the replica with it.
	if err := os.RemoveAll(paths.HostDir("db-2")); err != nil {
		t.Fatal(err)
	}
	if res, err = Apply(ctx, req); err != nil || res.Changes["create"]+res.Changes["replace"] < 1 {
		t.Errorf("apply after deleting a host dir: changes %v, err %v; want the host made again", res.Changes, err)
	}
	if _, err := os.Stat(paths.HostDir("db-2")); err != nil {
		t.Errorf("host dir not made again: %v", err)
	}
	// The node that ran there until its directory went is not left
	// beside the new one: the refresh's reads start no node.
	if pids := receptorsIn(t, paths.HostDir("db-2")); len(pids) != 1 {
		t.Errorf("receptor nodes of db-2 after it was made again: pids %v, want one", pids)
	}
	checkReplicates(t, ctx, paths)

	// Synchronous replication is an in-place change of the replica.
	req.Replication = topology.Sync
	out.Reset()
	if res, err = Apply(ctx, req); err != nil || res.Changes["update"] != 1 {
		t.Fatalf("apply with sync replication: changes %v, err %v; want 1 update", res.Changes, err)
	}
	if !strings.Contains(out.String(), "pulumi: running: changed since the last up: layout") {
		t.Errorf("apply with sync replication did not say the layout changed\n%s", out.String())
	}
	st, err = GetStatus(ctx, req.StateDir, req.Stack)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.Hosts {
		// ANY 1 (...) makes the one standby a quorum member.
		if h.Role == "db-replica" && (h.Replication == nil || h.Replication.SyncState != "quorum") {
			t.Errorf("sync replica %s replication = %+v, want sync_state quorum", h.Name, h.Replication)
		}
	}
	checkReplicates(t, ctx, paths)

	if _, err := Destroy(ctx, req); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if _, err := os.Stat(req.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s still exists after destroy", req.StateDir)
	}
	for _, addr := range []string{"127.77.2.2:15432", "127.77.2.3:15432"} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after destroy", addr)
		}
	}
}

// receptorsIn lists the receptor processes whose --config lies in dir.
func receptorsIn(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if a == "--config" && i+1 < len(args) && strings.HasPrefix(args[i+1], dir+"/") && strings.Contains(args[0], "receptor") {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// checkReplicates writes a row on the primary and reads it on the replica.
func checkReplicates(t *testing.T, ctx context.Context, paths stackdir.Paths) {
	t.Helper()
	primary, err := pgserver.Open(PostgresDir(paths.HostDir("db-1")))
	if err != nil {
		t.Fatal(err)
	}
	replica, err := pgserver.Open(PostgresDir(paths.HostDir("db-2")))
	if err != nil {
		t.Fatal(err)
	}
	marker := randomToken(8)
	if err := primary.Exec(ctx, "crm", "CREATE TABLE IF NOT EXISTS t (v text)"); err != nil {
		t.Fatal(err)
	}
	if err := primary.Exec(ctx, "crm", "INSERT INTO t VALUES ($1)", marker); err != nil {
		t.Fatal(err)
	}
	if err := primary.WaitReplayed(ctx, replica); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, replica.URL("crm"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t WHERE v = $1", marker).Scan(&n); err != nil || n != 1 {
		t.Fatalf("replica has %d rows of the marker (%v), want 1", n, err)
	}
}

// TestApplyPortTaken: a port held by another process fails the apply with
// ECONFLICT naming the host and the port.
func TestApplyPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pulumi")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.77.2.2:15432")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out bytes.Buffer
	req := testRequest(t, testStateDir(t), &out)
	t.Cleanup(func() { _, _ = Destroy(context.Background(), req) })
	_, err = Apply(ctx, req)
	if crmplan.ErrorCode(err) != crmplan.ECONFLICT {
		t.Fatalf("apply with port taken: err = %v (code %q), want ECONFLICT\n%s", err, crmplan.ErrorCode(err), out.String())
	}
	for _, want := range []string{"db-1", "127.77.2.2:15432"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if crmplan.ErrorHint(err) == "" {
		t.Errorf("error %q has no hint", err)
	}
}
