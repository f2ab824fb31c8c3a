package watchdog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/stackdir"
)

func TestParseDBHost(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    DBHost
		wantErr bool
	}{
		{"name and dir", "db-primary-1=/s/hosts/db-primary-1", DBHost{"db-primary-1", "/s/hosts/db-primary-1"}, false},
		{"relative dir", "db-primary-1=hosts/db-primary-1", DBHost{}, true},
		{"no name", "=/s/hosts/x", DBHost{}, true},
		{"no dir", "db-primary-1", DBHost{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDBHost(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseDBHost(%q) = %+v, %v", tt.in, got, err)
			}
			if err == nil && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// TestWatchdogPromotesMostAdvanced runs the watchdog against real servers:
// of two replicas the one that received more WAL is promoted once the
// primary stops answering, the primary is fenced, the other replica
// follows the promoted one and failover.json records the promotion.
func TestWatchdogPromotesMostAdvanced(t *testing.T) {
	needPostgres(t)
	root, err := os.MkdirTemp("/tmp", "crmplan-watchdog-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	paths := stackdir.Paths{StateDir: root, Stack: "wd"}
	for _, h := range []string{"p", "r1", "r2"} {
		if err := os.MkdirAll(paths.HostDir(h), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(srv *pgserver.Server, err error) *pgserver.Server {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Stop(context.Background()) })
		return srv
	}
	primary := start(pgserver.Init(ctx, pgserver.Config{Dir: agent.PostgresDir(paths.HostDir("p")), Addr: "127.54.8.1:0", Ephemeral: true, StopWithParent: true}))
	if err := primary.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var replicas []*pgserver.Server
	var args []string
	for i, name := range []string{"r1", "r2"} {
		replicas = append(replicas, start(pgserver.BaseBackup(ctx, primary, pgserver.Config{Dir: agent.PostgresDir(paths.HostDir(name)),
			Addr: fmt.Sprintf("127.54.8.%d:0", i+2), Ephemeral: true, StopWithParent: true}, pgserver.ReplicaOptions{})))
		args = append(args, DBHost{Name: name, Dir: paths.HostDir(name)}.String())
	}
	r1, r2 := replicas[0], replicas[1]
	// r1 stops hearing from the primary; r2 receives one more write.
	if err := r1.Follow("127.54.8.9:1"); err != nil {
		t.Fatal(err)
	}
	if err := primary.Exec(ctx, "postgres", "CREATE TABLE t (v text); INSERT INTO t VALUES ('only r2 has it')"); err != nil {
		t.Fatal(err)
	}
	if err := primary.WaitReplayed(ctx, r2); err != nil {
		t.Fatal(err)
	}
	if err := primary.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var log bytes.Buffer
	go func() {
		done <- Run(wctx, Config{Paths: paths, Primary: DBHost{Name: "p", Dir: paths.HostDir("p")}.String(),
			Replicas: args, Interval: 100 * time.Millisecond, Probes: 3}, &log)
	}()
	err = waitFor(ctx, 30*time.Second, func(context.Context) error {
		_, err := os.Stat(paths.FailoverRecord())
		return err
	})
	stop()
	if werr := <-done; werr != nil || err != nil {
		t.Fatalf("watchdog: %v, record: %v\n%s", werr, err, log.String())
	}
	t.Logf("watchdog log:\n%s", log.String())
	p, err := LoadPromotion(paths)
	if err != nil || p.Promoted != "r2" || p.Retired != "p" || !p.Automatic {
		t.Fatalf("promotion %+v (%v), want r2 promoted over p by the watchdog", p, err)
	}
	if old, err := pgserver.Open(primary.Dir()); err != nil || !old.Fenced() {
		t.Errorf("the old primary is not fenced (%v)", err)
	}
	if err := r2.Exec(ctx, "postgres", "INSERT INTO t VALUES ('after')"); err != nil {
		t.Fatalf("promoted r2 refuses a write: %v", err)
	}
	r1, err = pgserver.Open(r1.Dir()) // repointed by the watchdog
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.WaitReplayed(ctx, r1); err != nil {
		t.Errorf("r1 does not follow the promoted r2: %v", err)
	}
}

// needPostgres skips a test that runs PostgreSQL servers under -short or
// without PostgreSQL 15's server binaries.
func needPostgres(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs PostgreSQL servers")
	}
	if _, err := os.Stat(filepath.Join(pgserver.DefaultBin, "postgres")); err != nil {
		t.Skip("no PostgreSQL 15 server binaries (make deps)")
	}
}
