package mesh

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/provision/target/ssh/sshtest"
	"github.com/crmplan/crmplan/topology"
)

// countingLauncher counts what a launcher is asked: on the ssh target
// every call is a round trip to a machine.
type countingLauncher struct {
	target.NodeLauncher
	calls *atomic.Int32
}

func (c countingLauncher) Install(ctx context.Context, n target.Node) error {
	c.calls.Add(1)
	if in, ok := c.NodeLauncher.(target.Installer); ok {
		return in.Install(ctx, n)
	}
	return nil
}

func (c countingLauncher) Start(ctx context.Context, n target.Node) error {
	c.calls.Add(1)
	return c.NodeLauncher.Start(ctx, n)
}

func (c countingLauncher) Running(n target.Node) (int, bool) {
	c.calls.Add(1)
	return c.NodeLauncher.Running(n)
}

func (c countingLauncher) Stop(n target.Node) error {
	c.calls.Add(1)
	return c.NodeLauncher.Stop(n)
}

func (c countingLauncher) Kill(n target.Node) error {
	c.calls.Add(1)
	return c.NodeLauncher.Kill(n)
}

// TestRemoteMesh starts a Remote mesh on machines of the ssh rig (range
// 10.235.0.0/18) whose install directories exist only in their own mount
// namespaces: the nodes' files must be written on the machines, never at
// those paths on this machine, and the relay's status must be asked
// through the mesh (its control socket is on its machine). A second
// Start, with every node answering, asks no machine anything over SSH; a
// node killed on its machine is noticed and started again.
func TestRemoteMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sshd and receptor nodes in network namespaces")
	}
	// Heavy work, not measured: beside other work, not beside a measurement.
	cpulease.Work(t)
	bin := receptorBin(t)
	// A guard against a hang, not a time goal: beside the other suites on
	// a 2-core machine whose memory is slow to fault in, the test took
	// 179 s of a 3 min guard.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dmz, lan := netip.MustParsePrefix("10.235.1.0/24"), netip.MustParsePrefix("10.235.2.0/24")
	machines := t.TempDir()
	rig := sshtest.New(t, sshtest.Config{Range: netip.MustParsePrefix("10.235.0.0/18"), DMZ: dmz, LAN: lan, Machines: []sshtest.Machine{
		{Name: "web-1", Zone: "dmz", Address: netip.MustParseAddr("10.235.1.10"), Dir: filepath.Join(machines, "web-1", "crm"), Private: true},
		{Name: "api-1", Zone: "lan", Address: netip.MustParseAddr("10.235.2.10"), Via: "web-1", Dir: filepath.Join(machines, "api-1", "crm"), Private: true},
	}})
	relay := rig.Machines["web-1"].Address
	if err := rig.Allow(ctx, []netns.Rule{{To: relay, Port: DefaultPort}, {From: lan, To: relay, Port: DefaultPort}}); err != nil {
		t.Fatal(err)
	}
	inv, err := ssh.LoadInventory(rig.Inventory(t, "machines.yaml", nil))
	if err != nil {
		t.Fatal(err)
	}
	tgt := ssh.New(inv, "remote")
	t.Cleanup(func() { tgt.Close() })
	topo := topology.Topology{
		Zones: []topology.Zone{{Name: "dmz", Kind: topology.DMZ, CIDR: dmz.String()}, {Name: "lan", Kind: topology.LAN, CIDR: lan.String()}},
	}
	hosts := map[string]target.Host{}
	for _, name := range []string{"web-1", "api-1"} {
		rm := rig.Machines[name]
		cidr := lan
		if rm.Zone == "dmz" {
			cidr = dmz
		}
		h := target.Host{Name: name, Zone: rm.Zone, CIDR: cidr.String(), Address: rm.Address.String(), Dir: rm.Dir}
		if err := tgt.Create(ctx, h); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := tgt.Destroy(context.Background(), h); err != nil {
				t.Errorf("destroy %s: %v", name, err)
			}
		})
		hosts[name] = h
		topo.Hosts = append(topo.Hosts, topology.Host{Name: name, Zone: rm.Zone, Address: h.Address})
	}
	var calls atomic.Int32
	m, err := New(t.TempDir(), "remote", topo, Options{Receptor: bin, WorkTypes: shellWork, Remote: true, Target: ssh.Name,
		HostDir:  func(host string) string { return hosts[host].Dir },
		Launcher: func(host string) target.NodeLauncher { return countingLauncher{tgt.Nodes(hosts[host]), &calls} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	})
	start := time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("bootstrap of 2 machines: %.1fs", time.Since(start).Seconds())
	// Nothing of the nodes on this machine's side of the install
	// directories; their files where the mesh prepares them.
	for name, h := range hosts {
		if _, err := os.Stat(h.Dir); !os.IsNotExist(err) {
			t.Errorf("%s exists on this machine (%v): the mesh wrote host %s's files on the wrong side", h.Dir, err, name)
		}
		if _, err := os.Stat(filepath.Join(m.dir, "hosts", name, "receptor.yaml")); err != nil {
			t.Errorf("host %s's config is not prepared in the mesh directory: %v", name, err)
		}
	}
	echo := func() {
		t.Helper()
		out, err := m.Run(ctx, "api-1", Work{Type: "echo", Payload: strings.NewReader("hi")})
		if err != nil || strings.TrimSpace(out.Text) != "hi from crm" {
			t.Fatalf("echo on api-1 = %q, %v; want %q", out.Text, err, "hi from crm")
		}
	}
	echo()

	before, start := calls.Load(), time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Start with every node answering: %.3fs", time.Since(start).Seconds())
	if got := calls.Load() - before; got != 0 {
		t.Errorf("a second Start with every node answering asked the machines %d times over SSH, want 0", got)
	}

	if err := tgt.Nodes(hosts["api-1"]).Kill(target.Node{ID: "api-1", Dir: target.NodeDir(hosts["api-1"].Dir)}); err != nil {
		t.Fatal(err)
	}
	before, start = calls.Load(), time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Start with api-1's node killed: %.1fs", time.Since(start).Seconds())
	if calls.Load() == before {
		t.Errorf("Start after api-1's node was killed asked no machine: it cannot have started it again")
	}
	echo()
}
