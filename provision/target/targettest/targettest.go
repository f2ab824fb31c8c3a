// Package targettest is the contract every target adapter passes: one
// suite, run from each adapter's tests with its own fixture, so that the
// mesh, the provider and the rest of crmplan can rely on the same
// behaviour from every kind of host.
package targettest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
)

// Fixture is what an adapter's test hands the suite.
type Fixture struct {
	Target target.Target
	// Host returns a host of the target that no other subtest uses: i
	// tells them apart. Its Dir must not exist yet.
	Host func(t *testing.T, i int) target.Host
	// Range is a zone range the target places hosts in; Foreign one it
	// must refuse.
	Range, Foreign netip.Prefix
	// Outside is an address outside the host's range, which Create must
	// refuse before making anything.
	Outside string
	// Receptor is the receptor binary the bootstrap runs.
	Receptor string
	// NodePort is a port the test nodes listen on at their host's address
	// (Receptor runs nothing without a backend): binding it proves the node
	// runs on a host that has the address.
	NodePort int
}

// Run runs the contract against f's target.
func Run(t *testing.T, f Fixture) {
	ctx := context.Background()
	t.Run("Ranges", func(t *testing.T) {
		if err := f.Target.CheckRange("dmz", f.Range); err != nil {
			t.Fatalf("CheckRange(%s) = %v, want nil", f.Range, err)
		}
		err := f.Target.CheckRange("dmz", f.Foreign)
		if crmplan.ErrorCode(err) != crmplan.EINVALID {
			t.Fatalf("CheckRange(%s) = %v, want an EINVALID error", f.Foreign, err)
		}
	})
	t.Run("CreateIsIdempotent", func(t *testing.T) {
		h := f.Host(t, 1)
		t.Cleanup(func() { _ = f.Target.Destroy(ctx, h) })
		for range 2 {
			if err := f.Target.Create(ctx, h); err != nil {
				t.Fatalf("Create(%s) = %v", h.Name, err)
			}
		}
		if ok, err := f.Target.Exists(ctx, h); err != nil || !ok {
			t.Fatalf("Exists(%s) after Create = %v, %v; want true", h.Name, ok, err)
		}
	})
	t.Run("CreateRefusesAnAddressOutsideItsRange", func(t *testing.T) {
		h := f.Host(t, 2)
		h.Address = f.Outside
		t.Cleanup(func() { _ = f.Target.Destroy(ctx, h) })
		if err := f.Target.Create(ctx, h); crmplan.ErrorCode(err) != crmplan.EINVALID {
			t.Fatalf("Create with address %s in range %s = %v, want an EINVALID error", h.Address, h.CIDR, err)
		}
		if ok, _ := f.Target.Exists(ctx, h); ok {
			t.Fatalf("a refused Create left host %s behind", h.Name)
		}
	})
	t.Run("DestroyLeavesNothing", func(t *testing.T) {
		h := f.Host(t, 3)
		if err := f.Target.Create(ctx, h); err != nil {
			t.Fatal(err)
		}
		pid := bootstrap(t, f, h)
		if err := f.Target.Destroy(ctx, h); err != nil {
			t.Fatalf("Destroy(%s) = %v", h.Name, err)
		}
		if processAlive(pid) {
			t.Errorf("host %s's receptor node (pid %d) outlived Destroy", h.Name, pid)
		}
		if ok, err := f.Target.Exists(ctx, h); err != nil || ok {
			t.Errorf("Exists(%s) after Destroy = %v, %v; want false", h.Name, ok, err)
		}
		if err := f.Target.Destroy(ctx, h); err != nil {
			t.Errorf("a second Destroy(%s) = %v, want nil", h.Name, err)
		}
	})
	t.Run("BootstrapIsIdempotentAndStops", func(t *testing.T) {
		h := created(t, f, 4)
		pid := bootstrap(t, f, h)
		launcher, n := f.Target.Nodes(h), node(f, h)
		if got, ok := launcher.Running(n); !ok || got != pid {
			t.Fatalf("Running = %d, %v; want %d, true", got, ok, pid)
		}
		if err := launcher.Stop(n); err != nil {
			t.Fatalf("Stop = %v", err)
		}
		if _, ok := launcher.Running(n); ok || processAlive(pid) {
			t.Fatalf("node %s still runs after Stop", n.ID)
		}
		if err := launcher.Stop(n); err != nil {
			t.Fatalf("Stop of a stopped node = %v, want nil", err)
		}
	})
	t.Run("KillEndsTheNode", func(t *testing.T) {
		h := created(t, f, 5)
		pid := bootstrap(t, f, h)
		launcher, n := f.Target.Nodes(h), node(f, h)
		if err := launcher.Kill(n); err != nil {
			t.Fatalf("Kill = %v", err)
		}
		if processAlive(pid) {
			t.Fatalf("node %s (pid %d) still runs when Kill returns", n.ID, pid)
		}
		if _, ok := launcher.Running(n); ok {
			t.Errorf("Running says node %s runs after Kill", n.ID)
		}
		if err := launcher.Kill(n); err != nil {
			t.Errorf("Kill of a dead node = %v, want nil", err)
		}
		// The host stays usable: its node starts again.
		bootstrap(t, f, h)
	})
}

// Receptor returns the receptor binary `make bin/receptor` builds in the
// module's bin/, and skips the test when there is none.
func Receptor(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
	}
	p := filepath.Join(dir, "bin", "receptor")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no receptor binary at %s: run make bin/receptor", p)
	}
	return p
}

// created makes host i of f's target, destroyed when the test ends.
func created(t *testing.T, f Fixture, i int) target.Host {
	t.Helper()
	h := f.Host(t, i)
	if err := f.Target.Create(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Target.Destroy(context.Background(), h) })
	return h
}

func node(f Fixture, h target.Host) target.Node {
	return target.Node{ID: h.Name, Dir: target.NodeDir(h.Dir), Receptor: f.Receptor}
}

// bootstrap starts a Receptor node on h with a minimal config and waits
// until it greets on its control socket with its own node ID.
func bootstrap(t *testing.T, f Fixture, h target.Host) int {
	t.Helper()
	n := node(f, h)
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "---\n- node:\n    id: " + n.ID + "\n    datadir: " + n.DataDir() +
		"\n- control-service:\n    service: control\n    filename: " + n.SocketPath() +
		"\n- tcp-listener:\n    bindaddr: " + h.Address + "\n    port: " + strconv.Itoa(f.NodePort) + "\n"
	if err := os.WriteFile(n.ConfigPath(), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	launcher := f.Target.Nodes(h)
	if err := launcher.Start(context.Background(), n); err != nil {
		t.Fatalf("Start(%s) = %v", n.ID, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		hello, err := greeting(n.SocketPath())
		if err == nil && strings.Contains(hello, n.ID) {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(n.LogPath())
			t.Fatalf("node %s does not greet on %s (last: %q, %v)\n%s", n.ID, n.SocketPath(), hello, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pid, ok := launcher.Running(n)
	if !ok {
		t.Fatalf("node %s greets but Running says it does not run", n.ID)
	}
	return pid
}

func greeting(socket string) (string, error) {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, rerr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if rerr != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
