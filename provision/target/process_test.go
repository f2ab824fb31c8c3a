package target_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/targettest"
)

// TestStartReapsOrphanedNode removes a node's directory under the running
// node (its pid file with it), then starts the node again from a new
// directory at the same place, as a mesh does when a refresh's work comes
// before the target makes the host again: the old process must not be
// left running beside the new one.
func TestStartReapsOrphanedNode(t *testing.T) {
	receptor := targettest.Receptor(t)
	ctx := context.Background()
	n := target.Node{ID: "api-1", Dir: target.NodeDir(filepath.Join(t.TempDir(), "api-1")), Receptor: receptor}
	start := func() int {
		t.Helper()
		if err := os.MkdirAll(n.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// 127.10.250.41: next to the loopback target's tests, which use .40.
		cfg := "---\n- node:\n    id: api-1\n    datadir: " + n.DataDir() + "\n- tcp-listener:\n    bindaddr: 127.10.250.41\n    port: 27196\n"
		if err := os.WriteFile(n.ConfigPath(), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := (target.Processes{}).Start(ctx, n); err != nil {
			t.Fatal(err)
		}
		pid, ok := target.Processes{}.Running(n)
		if !ok {
			t.Fatal("node does not run")
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		return pid
	}
	old := start()
	// Past its start: a node whose config is removed while it starts
	// exits by itself and proves nothing.
	time.Sleep(500 * time.Millisecond)
	if syscall.Kill(old, 0) != nil {
		log, _ := os.ReadFile(n.LogPath())
		t.Fatalf("node exited by itself:\n%s", log)
	}
	if err := os.RemoveAll(filepath.Dir(n.Dir)); err != nil {
		t.Fatal(err)
	}
	if now := start(); now == old {
		t.Fatalf("the new node has the old one's pid %d", old)
	}
	for range 100 {
		if syscall.Kill(old, 0) != nil {
			return
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", old)); err == nil && strings.Contains(string(stat), ") Z") {
			return // a zombie of ours: dead
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the orphaned node (pid %d) still runs beside the new one", old)
}
