package pgserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFenceAndRewind: a primary killed with -9 after its replica was
// promoted (and after it took a write the replica never saw) is fenced,
// starts read-only, and pg_rewind makes it a replica of the promoted one
// without the diverged write. A third server follows the promoted one.
func TestFenceAndRewind(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three PostgreSQL servers")
	}
	// pg_rewind needs full_page_writes, which Ephemeral turns off.
	fpw := map[string]string{"full_page_writes": "on"}
	// Fewer connections than its replicas have: once rewound it must take
	// the promoted one's, or hot standby pauses replay.
	primary := StartTestConfig(t, Config{Addr: "127.54.9.1:0", Settings: map[string]string{"full_page_writes": "on", "max_connections": "30"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := filepath.Dir(primary.Dir())
	var replicas []*Server
	for _, name := range []string{"replica", "sibling"} {
		addr := map[string]string{"replica": "127.54.9.2:0", "sibling": "127.54.9.3:0"}[name]
		r, err := BaseBackup(ctx, primary, Config{Dir: filepath.Join(root, name), Addr: addr, Ephemeral: true, StopWithParent: true, Settings: fpw}, ReplicaOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stopOnCleanup(t, r)
		replicas = append(replicas, r)
	}
	replica, sibling := replicas[0], replicas[1]
	if err := primary.Exec(ctx, "postgres", "CREATE TABLE t (v text); INSERT INTO t VALUES ('both')"); err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		if err := primary.WaitReplayed(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if pos, err := replica.WALPosition(ctx); err != nil || pos <= 0 {
		t.Fatalf("replica WAL position %d, %v", pos, err)
	}
	// The sibling moves to the replica before the promotion and before
	// the split-brain write below: still streaming from the old primary,
	// it would take that write (or any later WAL of the old primary) and be
	// ahead of the promoted timeline's fork point, which no replica can
	// follow. The watchdog fences first for the same reason; this test
	// makes the split brain on purpose, so it orders the streams itself.
	if err := sibling.Follow(replica.Addr()); err != nil {
		t.Fatal(err)
	}
	waitStreaming(ctx, t, replica, 1)
	if err := replica.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	// Split brain on purpose: the old primary takes a write the promoted
	// one never sees; rewinding must drop it. Committed synchronously:
	// an ephemeral server commits asynchronously, and the kill below
	// could come before its WAL writer wrote the record, leaving nothing
	// to rewind.
	if err := primary.Exec(ctx, "postgres", "SET synchronous_commit = on; INSERT INTO t VALUES ('diverged')"); err != nil {
		t.Fatal(err)
	}
	if err := replica.Exec(ctx, "postgres", "INSERT INTO t VALUES ('promoted')"); err != nil {
		t.Fatal(err)
	}
	if err := replica.WaitReplayed(ctx, sibling); err != nil {
		t.Fatalf("the sibling does not follow the promoted replica: %v", err)
	}

	pid, _ := primary.PID()
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if err := waitGone(ctx, pid, primary.exited); err != nil {
		t.Fatal(err)
	}
	if err := primary.Fence(); err != nil {
		t.Fatal(err)
	}
	if !primary.Fenced() {
		t.Fatal("Fenced() is false after Fence")
	}
	old, err := Open(primary.Dir()) // a fresh handle, as a supervisor restarting it has
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Stop(context.Background()) })
	if err := old.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.Exec(ctx, "postgres", "INSERT INTO t VALUES ('split')"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write to the fenced primary after a restart: %v, want a read-only refusal", err)
	}
	if err := old.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	if err := old.Rewind(ctx, replica); err != nil {
		t.Fatal(err)
	}
	if log, err := os.ReadFile(filepath.Join(old.Dir(), "pg_rewind.log")); err != nil || !strings.Contains(string(log), "Done!") {
		t.Errorf("pg_rewind.log: %v\n%s", err, log)
	}
	if err := old.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !old.IsReplica() || old.Fenced() {
		t.Errorf("rewound server: replica %v, fenced %v; want a replica", old.IsReplica(), old.Fenced())
	}
	if err := replica.WaitReplayed(ctx, old); err != nil {
		t.Fatal(err)
	}
	got := queryValue[string](t, old.URL("postgres"), "SELECT string_agg(v, ',' ORDER BY v) FROM t")
	if got != "both,promoted" {
		t.Errorf("rewound server holds %q, want both,promoted (the diverged write dropped)", got)
	}
}

// waitStreaming waits until n standbys stream from s (pg_stat_replication).
func waitStreaming(ctx context.Context, t *testing.T, s *Server, n int) {
	t.Helper()
	for {
		if queryValue[int64](t, s.URL("postgres"), "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") >= int64(n) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: fewer than %d standbys streaming: %v", s.Addr(), n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
