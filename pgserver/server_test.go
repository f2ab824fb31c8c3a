package pgserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func queryInt(t *testing.T, url, sql string) int { t.Helper(); return queryValue[int](t, url, sql) }

// queryValue runs a query returning one value.
func queryValue[T any](t *testing.T, url, sql string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestStartTestSettingsAndStop(t *testing.T) {
	s := StartTestConfig(t, Config{Settings: map[string]string{"max_connections": "37"}})
	if got := queryInt(t, s.URL("postgres"), "SELECT current_setting('max_connections')::int"); got != 37 {
		t.Errorf("max_connections = %d, want 37", got)
	}
	if err := s.CreateDatabase(context.Background(), "crm"); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, s.URL("crm"), "SELECT 1"); got != 1 {
		t.Errorf("SELECT 1 = %d", got)
	}
	pid, ok := s.PID()
	if !ok {
		t.Fatal("PID: server not running")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	if _, ok := s.PID(); ok {
		t.Error("PID reports a running server after Stop")
	}
	// A restart keeps the data and the port.
	port := s.Port()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Port() != port {
		t.Errorf("port changed on restart: %d -> %d", port, s.Port())
	}
	if got := queryInt(t, s.URL("crm"), "SELECT count(*) FROM pg_database WHERE datname = 'crm'"); got != 1 {
		t.Errorf("database crm lost on restart")
	}
}

// TestOpenFromAnotherProcess covers long-running use: the server outlives
// the Server value that started it and is stopped through Open.
func TestOpenPasswordAndStop(t *testing.T) {
	root := testRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pw := RandomPassword()
	s, err := Init(ctx, Config{Dir: filepath.Join(root, "db-1"), Addr: "127.0.0.1:0", Password: pw, Ephemeral: true, StopWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.URL("postgres"), pw) {
		t.Errorf("URL %q lacks the password", s.URL("postgres"))
	}
	wrong := strings.Replace(s.URL("postgres"), pw, "wrong", 1)
	if conn, err := pgx.Connect(ctx, wrong); err == nil {
		conn.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
	o, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if o.URL("postgres") != s.URL("postgres") || o.Name() != "db-1" {
		t.Errorf("Open: url %q name %q, want %q db-1", o.URL("postgres"), o.Name(), s.URL("postgres"))
	}
	if err := o.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.PID(); ok {
		t.Error("server still running after Stop through Open")
	}
	if _, err := Init(ctx, Config{Dir: s.Dir()}); err == nil {
		t.Error("Init over an existing data directory succeeded")
	}
}

func TestPortTaken(t *testing.T) {
	a := StartTest(t)
	root := testRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Init(ctx, Config{Dir: filepath.Join(root, "b"), Addr: a.Addr(), Ephemeral: true, StopWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Start(ctx)
	if err == nil {
		_ = b.Stop(ctx)
		t.Fatal("second server on a taken port started")
	}
	if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "in use") {
		t.Errorf("error does not explain the taken port: %v", err)
	}
}

func TestStreamingReplica(t *testing.T) {
	primary, replica := StartTestPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := primary.Exec(ctx, "postgres", "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 1000)"); err != nil {
		t.Fatal(err)
	}
	if err := primary.WaitReplayed(ctx, replica); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, replica.URL("postgres"), "SELECT count(*) FROM t"); got != 1000 {
		t.Errorf("replica has %d rows, want 1000", got)
	}
	if got := queryInt(t, replica.URL("postgres"), "SELECT pg_is_in_recovery()::int"); got != 1 {
		t.Error("replica is not in recovery")
	}
	if err := replica.Exec(ctx, "postgres", "INSERT INTO t VALUES (1)"); err == nil {
		t.Error("replica accepted a write")
	}
	if got := queryInt(t, primary.URL("postgres"), "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"+replica.Name()+"'"); got != 1 {
		t.Errorf("primary sees %d replicas named %s, want 1", got, replica.Name())
	}
	if err := replica.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if err := replica.Exec(ctx, "postgres", "INSERT INTO t VALUES (1)"); err != nil {
		t.Errorf("promoted replica refused a write: %v", err)
	}
}

func TestSyncReplica(t *testing.T) {
	primary := StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := testRoot(t)
	replica, err := BaseBackup(ctx, primary, Config{Dir: filepath.Join(root, "sync"), Ephemeral: true, StopWithParent: true}, ReplicaOptions{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Stop(context.Background()) })
	// remote_apply: a committed row is visible on the replica at once.
	if err := primary.Exec(ctx, "postgres", "CREATE TABLE s AS SELECT 42 AS n"); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, replica.URL("postgres"), "SELECT n FROM s"); got != 42 {
		t.Errorf("replica n = %d, want 42", got)
	}
	if got := queryInt(t, primary.URL("postgres"), "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync','quorum')"); got != 1 {
		t.Errorf("%d synchronous replicas, want 1", got)
	}
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dir", Config{}, "Dir is required"},
		{"bad addr", Config{Dir: "x", Addr: "nonsense"}, "address"},
		{"bad port", Config{Dir: "x", Addr: "127.0.0.1:99999"}, "bad port"},
		{"no binaries", Config{Dir: "x", Bin: "/nonexistent"}, "no PostgreSQL server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Init(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if os.Geteuid() == 0 {
		dir := t.TempDir() // 0700 and root's: postgres cannot enter it
		_, err := Init(context.Background(), Config{Dir: filepath.Join(dir, "db")})
		if err == nil || !strings.Contains(err.Error(), "chmod o+x") {
			t.Errorf("err = %v, want a chmod hint", err)
		}
	}
}
