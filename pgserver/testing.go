package pgserver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// StartTest starts a throw-away server for a test: ephemeral, on a free
// loopback port, trust authentication, stopped and deleted by t.Cleanup.
// Databases: "postgres", or make more with CreateDatabase.
func StartTest(t testing.TB) *Server {
	t.Helper()
	return StartTestConfig(t, Config{})
}

// StartTestConfig is StartTest with settings of the caller's choosing; Dir,
// Ephemeral and StopWithParent are set by StartTestConfig.
func StartTestConfig(t testing.TB, cfg Config) *Server {
	t.Helper()
	root := testRoot(t)
	cfg.Dir = filepath.Join(root, "primary")
	cfg.Ephemeral, cfg.StopWithParent = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Init(ctx, cfg)
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	stopOnCleanup(t, s)
	if err := s.Start(ctx); err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	return s
}

// StartTestPair starts a primary and an asynchronous streaming replica of it.
func StartTestPair(t testing.TB) (primary, replica *Server) {
	t.Helper()
	primary = StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Dir: filepath.Join(filepath.Dir(primary.Dir()), "replica"), Ephemeral: true, StopWithParent: true}
	replica, err := BaseBackup(ctx, primary, cfg, ReplicaOptions{})
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	stopOnCleanup(t, replica)
	return primary, replica
}

// testRoot makes a directory the postgres user can enter (t.TempDir is 0700
// and root's when tests run as root) and removes it after the test.
func testRoot(t testing.TB) string {
	root, err := os.MkdirTemp("", "pgserver-test-")
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	return root
}

func stopOnCleanup(t testing.TB, s *Server) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgserver %s log tail:\n%s", s.Name(), s.LogTail(4096))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("pgserver: %v", err)
		}
	})
}
