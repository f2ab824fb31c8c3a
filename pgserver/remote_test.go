package pgserver

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestBaseBackupFromRemote takes a replica from a primary known only by
// address and password, as a replica's host does when the primary runs on
// another machine.
func TestBaseBackupFromRemote(t *testing.T) {
	primary := StartTestConfig(t, Config{Password: "s3cret"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := primary.Exec(ctx, "postgres", "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 500)"); err != nil {
		t.Fatal(err)
	}
	remote, err := Remote(primary.Addr(), "s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: filepath.Join(filepath.Dir(primary.Dir()), "replica"), Ephemeral: true, StopWithParent: true}
	replica, err := BaseBackup(ctx, remote, cfg, ReplicaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, replica)
	if err := primary.WaitReplayed(ctx, replica); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, replica.URL("postgres"), "SELECT count(*) FROM t"); got != 500 {
		t.Errorf("replica has %d rows, want 500", got)
	}
	if _, err := BaseBackup(ctx, remote, Config{Dir: t.TempDir()}, ReplicaOptions{Sync: true}); err == nil {
		t.Error("BaseBackup with Sync from a remote primary succeeded, want an error")
	}
	wrong, _ := Remote(primary.Addr(), "wrong", nil)
	other := Config{Dir: filepath.Join(filepath.Dir(primary.Dir()), "other"), Ephemeral: true, StopWithParent: true}
	if _, err := BaseBackup(ctx, wrong, other, ReplicaOptions{}); err == nil {
		t.Error("BaseBackup with a wrong password succeeded, want an error")
	}
}

func TestRemoteNeedsAPort(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:0", "127.0.0.1:x"} {
		if _, err := Remote(addr, "", nil); err == nil {
			t.Errorf("Remote(%q) = nil error, want one", addr)
		}
	}
}
