package agent

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// TestMain lets the test binary be the supervisor, as the crmplan binary
// is on a host: supervise.Process.Start runs os.Executable() as
// `supervise --spec FILE`.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "supervise" && os.Args[2] == "--spec" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := supervise.Run(ctx, os.Args[3], os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// PostgreSQL servers and crm roles under supervisors: heavy, and
	// measured by nothing here.
	os.Exit(cpulease.Package(m))
}

// pgHosts makes n host directories the postgres user can enter (as root
// the server runs as postgres; t.TempDir is 0700).
func pgHosts(t *testing.T, n int) []Host {
	t.Helper()
	root, err := os.MkdirTemp("", "agent-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	var hosts []Host
	for i := range n {
		h := Host{Dir: filepath.Join(root, fmt.Sprintf("db-%d", i+1))}
		if err := os.MkdirAll(h.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
		t.Cleanup(func() { _ = h.pgRemove() })
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	return hosts
}

// pgRunner skips without PostgreSQL and returns what a test drives the
// agent's servers with: a context, the supervisor binary, run (which
// fails the test on an error) and the output log pg_rewind and fallbacks
// write to.
func pgRunner(t *testing.T) (context.Context, string, func(Host, wire.PostgresOp) wire.PostgresStatus, *bytes.Buffer) {
	t.Helper()
	self := needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	log := &bytes.Buffer{}
	run := func(h Host, op wire.PostgresOp) wire.PostgresStatus {
		t.Helper()
		st, err := h.Postgres(ctx, self, op, log)
		if err != nil {
			t.Fatalf("%s on %s: %v\n%s", op.Action, filepath.Base(h.Dir), err, log.String())
		}
		return st
	}
	return ctx, self, run, log
}

// TestPostgresThroughTheAgent runs what apply and failover ask of database
// hosts, with real servers on two hosts that know each other only by
// address: a primary with the CRM's database, a replica taken from it,
// sync on and off, promotion of the replica, the old primary rebuilt as
// its replica by pg_rewind, a second replica made to follow the promoted
// one, and removal.
func TestPostgresThroughTheAgent(t *testing.T) {
	ctx, self, run, log := pgRunner(t)
	hosts := pgHosts(t, 3)
	primary, replica, other := hosts[0], hosts[1], hosts[2]
	// 127.10.249.0/24: no other test of the repository listens there.
	pAddr, rAddr, oAddr := "127.10.249.11:5432", "127.10.249.12:5432", "127.10.249.13:5432"
	init := run(primary, wire.PostgresOp{Action: wire.PostgresInit, Name: "db-1", Listen: pAddr, Password: "super'pw",
		Settings: map[string]string{"max_connections": "40"}, Database: "crm", AppUser: "crm", AppPassword: "app'pw"})
	if !init.Running || init.SystemID == "" || init.Replica {
		t.Fatalf("after init: %+v, want a running primary with a system id", init)
	}
	app := fmt.Sprintf("postgres://crm:%s@%s/crm?sslmode=disable", "app%27pw", pAddr)
	execSQL(t, ctx, app, "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 100)")

	rep := run(replica, wire.PostgresOp{Action: wire.PostgresReplica, Name: "db-2", Listen: rAddr, Primary: pAddr, Password: "super'pw",
		Settings: map[string]string{"max_connections": "40"}})
	if !rep.Running || !rep.Replica || rep.SystemID != init.SystemID {
		t.Fatalf("after replica: %+v, want a running replica of system %s", rep, init.SystemID)
	}
	run(other, wire.PostgresOp{Action: wire.PostgresReplica, Name: "db-3", Listen: oAddr, Primary: pAddr, Password: "super'pw",
		Settings: map[string]string{"max_connections": "40"}})
	run(primary, wire.PostgresOp{Action: wire.PostgresSync, Standby: "db-2", Sync: true})
	superURL := func(addr string) string {
		return "postgres://postgres:super%27pw@" + addr + "/postgres?sslmode=disable"
	}
	if got := query(t, ctx, superURL(pAddr), "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'db-2' AND sync_state IN ('sync','quorum')"); got != 1 {
		t.Fatalf("primary has %d synchronous standbys named db-2, want 1", got)
	}
	run(primary, wire.PostgresOp{Action: wire.PostgresSync, Standby: "db-2", Sync: false})

	// Failover: the primary is fenced by stopping it, the replica promoted,
	// the old primary rebuilt from the new one's address.
	run(primary, wire.PostgresOp{Action: wire.PostgresStop})
	if st := run(primary, wire.PostgresOp{Action: wire.PostgresStatusOnly}); st.Running || !st.Exists {
		t.Fatalf("after stop: %+v, want a stopped server that exists", st)
	}
	if st := run(replica, wire.PostgresOp{Action: wire.PostgresPromote}); st.Replica {
		t.Fatalf("after promote: %+v, want a primary", st)
	}
	// The replica that was not promoted follows the one that was, keeping
	// its data: crmplan failover's repoint, asked of its host's agent.
	if _, err := other.Postgres(ctx, self, wire.PostgresOp{Action: wire.PostgresFollow, Primary: "db-2"}, log); err == nil {
		t.Error("follow without a host:port succeeded")
	}
	run(other, wire.PostgresOp{Action: wire.PostgresFollow, Primary: rAddr})
	execSQL(t, ctx, fmt.Sprintf("postgres://crm:app%%27pw@%s/crm?sslmode=disable", rAddr), "INSERT INTO t VALUES (101)")
	otherApp := fmt.Sprintf("postgres://crm:%s@%s/crm?sslmode=disable", "app%27pw", oAddr)
	for deadline := time.Now().Add(30 * time.Second); query(t, ctx, otherApp, "SELECT count(*) FROM t") != 101; {
		if time.Now().After(deadline) {
			logf, _ := os.ReadFile(PostgresProcess(other.Dir).LogPath())
			t.Fatalf("db-3 did not replay the promoted primary's write after follow\n%s", tail(logf, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := run(other, wire.PostgresOp{Action: wire.PostgresStatusOnly}); !st.Replica || st.SystemID != init.SystemID {
		t.Errorf("db-3 after follow: %+v, want a replica of system %s, its data kept", st, init.SystemID)
	}
	rebuilt := run(primary, wire.PostgresOp{Action: wire.PostgresRebuild, Name: "db-1", Listen: pAddr, Primary: rAddr, Password: "super'pw",
		Settings: map[string]string{"max_connections": "40"}})
	if !rebuilt.Running || !rebuilt.Replica || !rebuilt.Rewound {
		t.Fatalf("after rebuild: %+v, want a running replica rewound by pg_rewind\n%s", rebuilt, log.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for query(t, ctx, app, "SELECT count(*) FROM t") != 101 {
		if time.Now().After(deadline) {
			logf, _ := os.ReadFile(PostgresProcess(primary.Dir).LogPath())
			t.Fatalf("the rebuilt replica did not catch up with the promoted primary's write\n%s", tail(logf, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}

	run(primary, wire.PostgresOp{Action: wire.PostgresRemove})
	if st := run(primary, wire.PostgresOp{Action: wire.PostgresStatusOnly}); st.Exists || st.Running {
		t.Fatalf("after remove: %+v, want nothing", st)
	}
	if _, err := primary.Postgres(ctx, self, wire.PostgresOp{Action: "drop-everything"}, log); err == nil {
		t.Error("an unknown action succeeded")
	}
}

func execSQL(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func query(t *testing.T, ctx context.Context, url, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestReplicaFollowsPrimarySettings raises max_connections on a primary
// and then on its replica, then lowers it, as applies that scale the api
// tier do: a replica with fewer connections than its primary had stops
// replaying.
func TestReplicaFollowsPrimarySettings(t *testing.T) {
	ctx, _, run, _ := pgRunner(t)
	hosts := pgHosts(t, 2)
	primary, replica := hosts[0], hosts[1]
	pAddr, rAddr := "127.10.249.21:5432", "127.10.249.22:5432"
	small, big := map[string]string{"max_connections": "30"}, map[string]string{"max_connections": "40"}
	run(primary, wire.PostgresOp{Action: wire.PostgresInit, Name: "db-1", Listen: pAddr, Password: "pw", Settings: small})
	run(replica, wire.PostgresOp{Action: wire.PostgresReplica, Name: "db-2", Listen: rAddr, Primary: pAddr, Password: "pw", Settings: small})
	run(primary, wire.PostgresOp{Action: wire.PostgresConfigure, Name: "db-1", Listen: pAddr, Settings: big})
	if st := run(replica, wire.PostgresOp{Action: wire.PostgresConfigure, Name: "db-2", Listen: rAddr, Settings: big}); !st.Running || !st.Replica {
		t.Fatalf("replica after configure: %+v", st)
	}
	if got := query(t, ctx, "postgres://postgres:pw@"+rAddr+"/postgres?sslmode=disable", "SELECT current_setting('max_connections')::int"); got != 40 {
		t.Errorf("replica max_connections = %d, want 40", got)
	}
	// Lowered again (more api servers, smaller pools): neither running
	// server restarts for it (pgConfigure keeps the higher value), and the
	// replica goes on replaying.
	run(primary, wire.PostgresOp{Action: wire.PostgresConfigure, Name: "db-1", Listen: pAddr, Settings: small})
	if got := query(t, ctx, "postgres://postgres:pw@"+pAddr+"/postgres?sslmode=disable", "SELECT current_setting('max_connections')::int"); got != 40 {
		t.Errorf("running primary max_connections = %d after lowering to 30, want 40 kept (no restart)", got)
	}
	if st := run(replica, wire.PostgresOp{Action: wire.PostgresConfigure, Name: "db-2", Listen: rAddr, Settings: small}); !st.Running || !st.Replica {
		t.Fatalf("replica after lowering: %+v", st)
	}
	if got := query(t, ctx, "postgres://postgres:pw@"+rAddr+"/postgres?sslmode=disable", "SELECT current_setting('max_connections')::int"); got != 40 {
		t.Errorf("replica max_connections = %d after its primary went down to 30, want 40 kept", got)
	}
}

// TestRestartReasons: what apply's output names when PostgreSQL restarts.
func TestRestartReasons(t *testing.T) {
	current := map[string]string{"shared_buffers": "4GB", "work_mem": "52428kB", "max_connections": "50"}
	want := map[string]string{"shared_buffers": "8GB", "work_mem": "41943kB", "max_connections": "60", "max_wal_senders": "20"}
	got := RestartReasons(current, want)
	if w := []string{"max_connections 50 -> 60", "max_wal_senders its default -> 20", "shared_buffers 4GB -> 8GB"}; !slices.Equal(got, w) {
		t.Errorf("RestartReasons = %q, want %q", got, w)
	}
	want["max_connections"], want["shared_buffers"] = "40", "4GB"
	delete(want, "max_wal_senders")
	if got := RestartReasons(current, want); len(got) != 0 {
		t.Errorf("fewer connections and work_mem: RestartReasons = %q, want none", got)
	}
}

// TestReloadSettings: what a running server takes by a reload, and what
// restarts it. A scale-out lowers max_connections (a smaller pool per api
// server): the running server keeps its higher value rather than restart.
func TestReloadSettings(t *testing.T) {
	current := map[string]string{"shared_buffers": "4GB", "work_mem": "52428kB", "max_connections": "40"}
	tests := []struct {
		name        string
		want        map[string]string
		wantApplied map[string]string
		wantRestart bool
	}{
		{"unchanged", current, current, false},
		{"work_mem and fewer connections (scale out)", map[string]string{"shared_buffers": "4GB", "work_mem": "69905kB", "max_connections": "30"},
			map[string]string{"shared_buffers": "4GB", "work_mem": "69905kB", "max_connections": "40"}, false},
		{"more connections", map[string]string{"shared_buffers": "4GB", "work_mem": "52428kB", "max_connections": "50"}, nil, true},
		{"shared_buffers", map[string]string{"shared_buffers": "8GB", "work_mem": "52428kB", "max_connections": "40"}, nil, true},
		{"a new restart-only setting", map[string]string{"max_wal_senders": "20"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			applied, restart := reloadSettings(current, tt.want)
			if restart != tt.wantRestart {
				t.Fatalf("restart = %v, want %v", restart, tt.wantRestart)
			}
			if why := RestartReasons(current, tt.want); len(why) > 0 != restart {
				t.Errorf("RestartReasons = %q, with restart = %v", why, restart)
			}
			if !restart && !maps.Equal(applied, tt.wantApplied) {
				t.Errorf("applied %v, want %v", applied, tt.wantApplied)
			}
		})
	}
}

// TestPostgresInitOnAShutHostDir: a host directory made again 0700 by
// whatever wrote into it first after it was removed does not stop the
// server, which runs as the postgres
// user below it: the agent opens it as the target would have. Seen in
// TestLocalDatabaseStack's apply after deleting a host dir: "the postgres
// user cannot enter .../hosts/db-2 (mode -rwx------)".
func TestPostgresInitOnAShutHostDir(t *testing.T) {
	_, _, run, _ := pgRunner(t)
	h := pgHosts(t, 1)[0]
	if err := os.Chmod(h.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st := run(h, wire.PostgresOp{Action: wire.PostgresInit, Name: "db-1", Listen: "127.10.249.21:5432", Password: "pw",
		Database: "crm", AppUser: "crm", AppPassword: "app"})
	if !st.Running {
		t.Fatalf("after init: %+v, want a running server", st)
	}
	if fi, err := os.Stat(h.Dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("host dir after init: %v %v, want mode 0755", fi.Mode().Perm(), err)
	}
}
