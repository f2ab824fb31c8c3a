package provision

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/targettest"
	"github.com/crmplan/crmplan/topology"
)

// TestStatusAndKillThroughTheMesh runs status and chaos kills against a
// real mesh whose hosts run crmplan-host's agent: every host reports through
// its node; a kill takes the host's supervised processes and then its
// node down; status then says that host is down, still reports the
// others, and a second kill of it is refused. Killing the relay cuts every
// host off.
func TestStatusAndKillThroughTheMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan-host, starts a Receptor mesh")
	}
	// Heavy work, not measured: beside other work, not beside a measurement.
	cpulease.Work(t)
	receptor := targettest.Receptor(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/crmplan-host")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// 127.10.246.0/23: no other test of the repository places hosts there.
	stateDir, stack := t.TempDir(), "s"
	paths := stackdir.Paths{StateDir: stateDir, Stack: stack}
	topo := topology.Topology{
		Zones: []topology.Zone{{Name: "dmz", Kind: topology.DMZ}, {Name: "lan", Kind: topology.LAN}},
		Hosts: []topology.Host{
			{Name: "web-1", Role: topology.RoleWeb, Zone: "dmz", Address: "127.10.246.10"},
			{Name: "api-1", Role: topology.RoleAPI, Zone: "lan", Address: "127.10.247.10"},
			{Name: "api-2", Role: topology.RoleAPI, Zone: "lan", Address: "127.10.247.11"},
		},
	}
	m, err := mesh.New(stateDir, stack, topo, mesh.Options{Receptor: receptor, AgentBin: filepath.Join(bin, "crmplan-host"), Port: freeTCPPort(t, "127.10.246.10")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	if err := m.Save(stateDir); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	inv := stackdir.Inventory{Stack: stack, Target: "local"}
	for _, h := range topo.Hosts {
		inv.Hosts = append(inv.Hosts, stackdir.InventoryHost{Name: h.Name, Role: string(h.Role), Zone: h.Zone, Address: h.Address, Dir: paths.HostDir(h.Name)})
	}
	if err := stackdir.SaveInventory(stateDir, inv); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	proc := supervise.Process{Name: "crm-api", Dir: paths.HostDir("api-1"), Argv: []string{"/bin/sleep", "300"}}
	if _, err := proc.Start(self); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Stop() })
	// Start returns once the supervisor is launched; its program runs when
	// it has written its state (status would otherwise ask before).
	for deadline := time.Now().Add(30 * time.Second); ; {
		if st, err := proc.ReadState(); err == nil && st.ChildPID != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("crm-api's supervisor wrote no child pid in 30 s:\n%s", supervise.LogTail(proc.SupervisorLogPath(), 4096))
		}
		time.Sleep(20 * time.Millisecond)
	}

	began := time.Now()
	st := status(t, ctx, stateDir, stack)
	t.Logf("status of 3 hosts through the mesh: %v", time.Since(began))
	var killed []int
	for _, h := range st {
		if h.MeshNode != h.Name || !strings.HasPrefix(h.Mesh, "up, pid ") {
			t.Errorf("%s: mesh node %q %q, want its own, up", h.Name, h.MeshNode, h.Mesh)
		}
		// Nothing serves on these hosts: their agents say so.
		if h.Healthy || h.Health != "no crm role runs on the host" {
			t.Errorf("%s: healthy %v (%s), want no crm role", h.Name, h.Healthy, h.Health)
		}
	}
	if ps := st["api-1"].Processes; len(ps) != 1 || ps[0].Name != "crm-api" || !ps[0].Running || ps[0].PID == 0 {
		t.Fatalf("api-1's processes %+v, want crm-api running", ps)
	} else {
		killed = []int{ps[0].SupervisorPID, ps[0].PID}
	}

	began = time.Now()
	host, at, err := KillHost(ctx, stateDir, stack, "app-1")
	if host != "api-1" || err != nil {
		t.Fatalf("KillHost(app-1) = %q, %v", host, err)
	}
	// The fault struck when the agent sent its kill, inside the unit.
	if at.Before(began) || at.After(time.Now()) {
		t.Errorf("KillHost says it struck at %v, outside its call (%v to now)", at, began)
	}
	t.Logf("kill through the mesh: struck after %v, returned after %v", at.Sub(began), time.Since(began))
	for _, pid := range killed {
		if !supervise.Exited(pid) {
			t.Errorf("pid %d of api-1 runs after the kill", pid)
		}
	}
	node := target.Node{ID: "api-1", Dir: target.NodeDir(paths.HostDir("api-1"))}
	if pid, ok := (target.Processes{}).Running(node); ok {
		t.Errorf("api-1's node (pid %d) runs after the kill", pid)
	}

	began = time.Now()
	st = status(t, ctx, stateDir, stack)
	t.Logf("status with api-1's node down: %v", time.Since(began))
	if h := st["api-1"]; h.Healthy || !strings.HasPrefix(h.Mesh, "DOWN") {
		t.Errorf("api-1 after the kill: mesh %q, healthy %v (%s); want it down", h.Mesh, h.Healthy, h.Health)
	}
	for _, name := range []string{"web-1", "api-2"} {
		if h := st[name]; !strings.HasPrefix(h.Mesh, "up") || h.Health != "no crm role runs on the host" {
			t.Errorf("%s beside the dead api-1: mesh %q, %s; want it reported as before", name, h.Mesh, h.Health)
		}
	}
	if _, _, err := KillHost(ctx, stateDir, stack, "api-1"); crmplan.ErrorCode(err) != crmplan.ECONFLICT {
		t.Errorf("a second kill of api-1: %v, want %s (its node is down)", err, crmplan.ECONFLICT)
	}

	// Without its relay no host is reachable: each is reported down, none
	// holds status until its timeout.
	if _, _, err := KillHost(ctx, stateDir, stack, "web-1"); crmplan.ErrorCode(err) != crmplan.ECONFLICT {
		t.Errorf("kill of web-1, which runs nothing: %v, want %s", err, crmplan.ECONFLICT)
	}
	began = time.Now()
	st = status(t, ctx, stateDir, stack)
	t.Logf("status with the relay's node down: %v", time.Since(began))
	for _, h := range st {
		if h.Healthy || !strings.HasPrefix(h.Mesh, "DOWN") {
			t.Errorf("%s without the relay: mesh %q, %s; want it down", h.Name, h.Mesh, h.Health)
		}
		t.Logf("%s: %s", h.Name, h.Mesh)
	}
}

// status runs GetStatus and returns its hosts by name.
func status(t *testing.T, ctx context.Context, stateDir, stack string) map[string]HostStatus {
	t.Helper()
	st, err := GetStatus(ctx, stateDir, stack)
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]HostStatus{}
	for _, h := range st.Hosts {
		hosts[h.Name] = h
	}
	return hosts
}

// freeTCPPort returns a port free on addr right now.
func freeTCPPort(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
