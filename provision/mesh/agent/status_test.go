package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// supervised starts argv under a supervisor (this test binary) in h's
// directory and waits until its program runs.
func supervised(t *testing.T, h Host, name string, argv ...string) supervise.Process {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	proc := supervise.Process{Name: name, Dir: h.Dir, Argv: argv}
	if _, err := proc.Start(self); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Stop() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, err := proc.ReadState(); err == nil && st.ChildPID > 0 {
			return proc
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", name)
		}
	}
}

// TestStatusAndKill: status reports every supervised process of the host
// and each role's health with the release it runs; kill takes every
// supervisor and program down with their process groups, so nothing comes
// back, and says what it killed.
func TestStatusAndKill(t *testing.T) {
	h := Host{Dir: t.TempDir()}
	if err := os.MkdirAll(h.releaseDir("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.setLink("current", "v1"); err != nil {
		t.Fatal(err)
	}
	// A role whose /healthz answers and whose /readyz does not: the spec
	// is what the start unit records; the server stands in for crm.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"reason":"database down"}`))
		}
	}))
	defer srv.Close()
	spec, _ := json.Marshal(RoleSpec{Role: "api", Listen: strings.TrimPrefix(srv.URL, "http://")})
	if err := os.MkdirAll(h.rolesDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.roleSpecPath("api"), spec, 0o600); err != nil {
		t.Fatal(err)
	}
	supervised(t, h, "sleeper", "/bin/sleep", "300")
	// A program with a child of its own, as postgres has its backends.
	supervised(t, h, "parent", "/bin/sh", "-c", "/bin/sleep 301 & wait")

	st, err := h.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != "v1" || len(st.Releases) != 1 {
		t.Errorf("releases: current %q of %v, want v1", st.Current, st.Releases)
	}
	if len(st.Roles) != 1 || st.Roles[0].Role != "api" || st.Roles[0].Release != "v1" || !st.Roles[0].Healthy || st.Roles[0].Ready ||
		!strings.Contains(st.Roles[0].Reason, "database down") {
		t.Errorf("roles %+v, want api on v1, healthy, not ready because the database is down", st.Roles)
	}
	if st.Postgres != nil {
		t.Errorf("postgres %+v on a host without a server", st.Postgres)
	}
	if len(st.Processes) != 2 || st.Processes[0].Name != "parent" || st.Processes[1].Name != "sleeper" {
		t.Fatalf("processes %+v, want parent and sleeper", st.Processes)
	}
	var pids []int
	for _, p := range st.Processes {
		if !p.Running || p.PID == 0 || p.SupervisorPID == 0 || p.Log != filepath.Join(h.Dir, p.Name+".log") {
			t.Errorf("process %+v, want running with its pids and log", p)
		}
		pids = append(pids, p.PID, p.SupervisorPID)
	}
	grandchild := childOf(t, st.Processes[0].PID)

	k := h.Kill()
	if k.Supervisors != 2 || k.Programs != 2 || k.At.IsZero() {
		t.Errorf("kill = %+v, want 2 supervisors and 2 programs", k)
	}
	// Kill waits for the supervisors and programs it signalled; a
	// program's own children get the same SIGKILL (their process group)
	// and may take a moment longer to exit on a loaded machine.
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range append(pids, grandchild) {
		for !supervise.Exited(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !supervise.Exited(pid) {
			t.Errorf("pid %d runs 5 s after kill", pid)
		}
	}
	// Nothing restarts them: their supervisors died first.
	time.Sleep(300 * time.Millisecond)
	st, err = h.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Processes {
		if p.Running || p.PID != 0 {
			t.Errorf("after kill %+v, want it down", p)
		}
	}
	if k := h.Kill(); k.Programs != 0 {
		t.Errorf("a second kill killed %+v, want nothing left", k)
	}
}

// childOf waits for pid's first child and returns it.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			if c, err := strconv.Atoi(f[0]); err == nil {
				return c
			}
		}
	}
	t.Fatalf("process %d started no child", pid)
	return 0
}

// needPostgres skips a test under -short or without PostgreSQL's server
// binaries, and returns the supervisor of its servers: this binary.
func needPostgres(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs PostgreSQL servers")
	}
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/postgres"); err != nil {
		t.Skip("no PostgreSQL 15 server binaries (make deps)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// TestStatusOfDatabaseHosts: a primary's status lists the replicas
// streaming from it, a replica's says it replays from a receiver, both
// name their postgres process; a killed primary is reported down.
func TestStatusOfDatabaseHosts(t *testing.T) {
	self := needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hosts := pgHosts(t, 2)
	primary, replica := hosts[0], hosts[1]
	// 127.10.248.0/24: no other test of the repository listens there.
	pAddr, rAddr := "127.10.248.11:5432", "127.10.248.12:5432"
	var log bytes.Buffer
	for _, op := range []struct {
		h  Host
		op wire.PostgresOp
	}{
		{primary, wire.PostgresOp{Action: wire.PostgresInit, Name: "db-1", Listen: pAddr, Password: "pw"}},
		{replica, wire.PostgresOp{Action: wire.PostgresReplica, Name: "db-2", Listen: rAddr, Primary: pAddr, Password: "pw"}},
	} {
		if _, err := op.h.Postgres(ctx, self, op.op, &log); err != nil {
			t.Fatalf("%s: %v\n%s", op.op.Action, err, log.String())
		}
	}

	var ps, rs Status
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ps, err = primary.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if pg := ps.Postgres; pg != nil && len(pg.Standbys) == 1 && pg.Standbys[0].State == "streaming" || time.Now().After(deadline) {
			break
		}
	}
	if pg := ps.Postgres; pg == nil || !pg.Running || !pg.Ready || pg.Replica || len(pg.Standbys) != 1 ||
		pg.Standbys[0].Name != "db-2" || pg.Standbys[0].State != "streaming" || pg.Standbys[0].SyncState != "async" {
		t.Errorf("primary's postgres %+v, want ready, not a replica, with db-2 streaming async", pg)
	}
	if rs, err = replica.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if pg := rs.Postgres; pg == nil || !pg.Ready || !pg.Replica || pg.Receiver != "streaming" || len(pg.Standbys) != 0 {
		t.Errorf("replica's postgres %+v, want a ready replica whose receiver streams", pg)
	}
	for _, st := range []Status{ps, rs} {
		if len(st.Processes) != 1 || st.Processes[0].Name != "postgres" || !st.Processes[0].Running {
			t.Errorf("%s: processes %+v, want postgres running", filepath.Base(st.Dir), st.Processes)
		}
	}

	if k := primary.Kill(); k.Programs != 1 {
		t.Errorf("kill on the primary = %+v, want postgres killed", k)
	}
	if ps, err = primary.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if pg := ps.Postgres; pg == nil || pg.Running || pg.Ready || pg.Reason == "" {
		t.Errorf("killed primary's postgres %+v, want down with the reason", pg)
	}
}
