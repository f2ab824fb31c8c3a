package cache

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
)

// StartTest runs a throw-away memcached for a test, on a unix socket in a
// temporary directory, and returns the socket's path (a server address
// memcache clients accept). It skips the test when memcached is not
// installed, and stops it on cleanup.
func StartTest(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("memcached is not installed (make deps)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sock := filepath.Join(t.TempDir(), "mc.sock")
	m, err := Start(ctx, Config{Socket: sock, MemoryMB: 8, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return sock
}

// TestKey returns a random key for a test's Principals.
func TestKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, MinKeyLen)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}
