package loopback

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/targettest"
)

func TestContract(t *testing.T) {
	dir := t.TempDir()
	// 127.10.250.0/24: no other test of the repository places hosts there.
	cidr := netip.MustParsePrefix("127.10.250.0/24")
	targettest.Run(t, targettest.Fixture{
		Target: Target{},
		Host: func(t *testing.T, i int) target.Host {
			name := fmt.Sprintf("web-%d", i)
			return target.Host{Name: name, Zone: "dmz", CIDR: cidr.String(),
				Address: fmt.Sprintf("127.10.250.%d", 10+i), Dir: filepath.Join(dir, name)}
		},
		Range:    cidr,
		Foreign:  netip.MustParsePrefix("10.10.1.0/24"),
		Outside:  "127.10.251.10",
		Receptor: targettest.Receptor(t),
		NodePort: 27198,
	})
}

func TestCheckRange(t *testing.T) {
	tests := []struct {
		cidr    string
		wantErr bool
	}{
		{"127.10.1.0/24", false},
		{"127.0.0.0/8", false},
		{"10.10.1.0/24", true},
		{"192.168.0.0/16", true},
		{"0.0.0.0/0", true},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			err := Target{}.CheckRange("lan", netip.MustParsePrefix(tt.cidr))
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckRange(%s) = %v, wantErr %v", tt.cidr, err, tt.wantErr)
			}
		})
	}
}

// TestOrphanedNodeReaped removes a host's directory under its running
// node, as someone cleaning up by hand would: the pid file goes with it,
// and the next Create (the refresh finds the host gone) must not leave the
// old node running beside the new one.
func TestOrphanedNodeReaped(t *testing.T) {
	receptor := targettest.Receptor(t)
	ctx := context.Background()
	h := target.Host{Name: "api-1", Zone: "lan", CIDR: "127.10.250.0/24", Address: "127.10.250.40", Dir: filepath.Join(t.TempDir(), "api-1")}
	lb := Target{}
	if err := lb.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb.Destroy(ctx, h) })
	n := target.Node{ID: h.Name, Dir: target.NodeDir(h.Dir), Receptor: receptor}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "---\n- node:\n    id: api-1\n    datadir: " + n.DataDir() + "\n- tcp-listener:\n    bindaddr: 127.10.250.40\n    port: 27197\n"
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
	// Past its start: a node whose config is removed while it starts
	// exits by itself and proves nothing.
	time.Sleep(500 * time.Millisecond)
	if syscall.Kill(pid, 0) != nil {
		log, _ := os.ReadFile(n.LogPath())
		t.Fatalf("node exited by itself:\n%s", log)
	}
	if err := os.RemoveAll(h.Dir); err != nil {
		t.Fatal(err)
	}
	if err := lb.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(stat), ") Z") {
			return // a zombie of ours: dead
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the orphaned node (pid %d) still runs after the host was created again", pid)
}
