package ssh

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ssh/sshtest"
	"github.com/crmplan/crmplan/provision/target/targettest"
)

// The rig's machines live in 10.232.0.0/16 (no other test of the
// repository uses it): the DMZ in 10.232.1.0/24, the LAN in
// 10.232.2.0/24. Each test's rig has machines of its own, so two tests of
// this package never share an address.
var (
	rigRange = netip.MustParsePrefix("10.232.0.0/16")
	rigDMZ   = netip.MustParsePrefix("10.232.1.0/24")
	rigLAN   = netip.MustParsePrefix("10.232.2.0/24")
)

// newRig makes a rig of one DMZ machine (web-0) and n LAN machines
// (app-1..app-n, reached via web-0), each with its own install directory
// under dir; first is the last octet of the rig's first address.
func newRig(t *testing.T, first, n int, dir string) *sshtest.Rig {
	machines := []sshtest.Machine{{Name: "web-0", Zone: "dmz", Address: addr(rigDMZ, first), Dir: filepath.Join(dir, "web-0")}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("app-%d", i)
		machines = append(machines, sshtest.Machine{Name: name, Zone: "lan", Address: addr(rigLAN, first+i), Via: "web-0", Dir: filepath.Join(dir, name)})
	}
	return sshtest.New(t, sshtest.Config{Range: rigRange, DMZ: rigDMZ, LAN: rigLAN, Machines: machines})
}

func addr(p netip.Prefix, last int) netip.Addr {
	a := p.Addr().As4()
	a[3] = byte(last)
	return netip.AddrFrom4(a)
}

func host(rig *sshtest.Rig, name string) target.Host {
	m := rig.Machines[name]
	cidr := rigLAN
	if m.Zone == "dmz" {
		cidr = rigDMZ
	}
	return target.Host{Name: name, Zone: m.Zone, CIDR: cidr.String(), Address: m.Address.String(), Dir: m.Dir}
}

func load(t *testing.T, path string) *Inventory {
	t.Helper()
	inv, err := LoadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestContract runs the target contract on LAN machines of the rig, every
// one reached through the DMZ machine (ProxyJump).
func TestContract(t *testing.T) {
	// Heavy work, not measured (sshd, binaries copied and checked on every
	// machine): beside other work, not beside a measurement (cpulease).
	cpulease.Work(t)
	receptor := targettest.Receptor(t)
	dir := t.TempDir()
	rig := newRig(t, 10, 5, dir)
	tgt := New(load(t, rig.Inventory(t, "machines.yaml", nil)), "contract")
	t.Cleanup(func() { tgt.Close() })
	targettest.Run(t, targettest.Fixture{
		Target: tgt,
		Host: func(t *testing.T, i int) target.Host {
			return host(rig, fmt.Sprintf("app-%d", i))
		},
		Range:    rigLAN,
		Foreign:  netip.MustParsePrefix("10.232.9.0/24"), // no machine there
		Outside:  "10.232.3.10",
		Receptor: receptor,
		NodePort: 27198,
	})
	// Destroy left nothing of the stack on the machines.
	for i := 1; i <= 5; i++ {
		if _, err := os.Stat(rig.Machines[fmt.Sprintf("app-%d", i)].Dir); !os.IsNotExist(err) {
			t.Errorf("app-%d's install directory is still there (%v)", i, err)
		}
	}
}

// TestRigIsolation: this machine reaches the DMZ machine's sshd and has no
// route at all to the LAN machines', which only the DMZ machine reaches.
func TestRigIsolation(t *testing.T) {
	rig := newRig(t, 30, 1, t.TempDir())
	if err := sshtest.DialFrom(rig.Machines["web-0"].Address, 22); err != nil {
		t.Fatalf("this machine to web-0:22 = %v, want it to connect", err)
	}
	if err := sshtest.DialFrom(rig.Machines["app-1"].Address, 22); err == nil {
		t.Fatalf("this machine reached app-1:22, a LAN machine")
	}
	// Through web-0 it is there.
	tgt := New(load(t, rig.Inventory(t, "machines.yaml", nil)), "iso")
	t.Cleanup(func() { tgt.Close() })
	out, err := tgt.run(context.Background(), "app-1", "cat /proc/net/fib_trie | grep -c "+rig.Machines["app-1"].Address.String())
	if err != nil || strings.TrimSpace(out) == "0" {
		t.Fatalf("app-1 via web-0: %q, %v; want to run in app-1's namespace", out, err)
	}
}

// TestBadInputStopsBeforeAnyMachine: every kind of bad input fails
// Preflight with the host named and a Try line, and nothing is written on
// any machine, the good ones included.
func TestBadInputStopsBeforeAnyMachine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rig := newRig(t, 40, 2, dir)
	strange, strangePub := rig.NewKey(t, "strange")
	tests := []struct {
		name     string
		edit     func(m map[string]sshtest.Machine)
		editFile func(t *testing.T, inv *Inventory)
		host     string
		code     string
		want     string
	}{
		{name: "changed host key", host: "app-2", code: crmplan.EINVALID, want: "host key",
			editFile: func(t *testing.T, inv *Inventory) {
				// app-2's entry is another machine's key: as after a reinstall,
				// or a machine that is not the one it claims.
				known := knownhosts.Line([]string{rig.Machines["web-0"].Address.String()}, rig.HostKeys["web-0"]) + "\n" +
					knownhosts.Line([]string{rig.Machines["app-1"].Address.String()}, rig.HostKeys["app-1"]) + "\n" +
					knownhosts.Line([]string{rig.Machines["app-2"].Address.String()}, strangePub) + "\n"
				inv.KnownHosts = writeFile(t, "known_hosts_changed", known)
			}},
		{name: "unknown host key", host: "app-1", code: crmplan.EINVALID, want: "not in",
			editFile: func(t *testing.T, inv *Inventory) {
				inv.KnownHosts = writeFile(t, "known_hosts_partial",
					knownhosts.Line([]string{rig.Machines["web-0"].Address.String()}, rig.HostKeys["web-0"])+"\n")
			}},
		{name: "refused key", host: "web-0", code: crmplan.EINVALID, want: "refused",
			editFile: func(t *testing.T, inv *Inventory) { inv.Key = strange }},
		{name: "missing via", host: "app-1", code: crmplan.EUNAVAILABLE, want: "cannot reach",
			edit: func(m map[string]sshtest.Machine) { a := m["app-1"]; a.Via = ""; m["app-1"] = a }},
		{name: "unreachable", host: "app-2", code: crmplan.EUNAVAILABLE, want: "cannot reach",
			edit: func(m map[string]sshtest.Machine) { a := m["app-2"]; a.Address = addr(rigLAN, 99); m["app-2"] = a }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := load(t, rig.Inventory(t, strings.ReplaceAll(tt.name, " ", "-")+".yaml", tt.edit))
			if tt.editFile != nil {
				tt.editFile(t, inv)
			}
			tgt := New(inv, "bad")
			defer tgt.Close()
			var hosts []target.Host
			for _, name := range []string{"web-0", "app-1", "app-2"} {
				h := host(rig, name)
				h.Address = inv.Machines[name].Address
				if tt.name == "unreachable" && name == "app-2" {
					h.Address = addr(rigLAN, 99).String()
				}
				hosts = append(hosts, h)
			}
			err := tgt.Preflight(ctx, hosts)
			if err == nil {
				t.Fatal("Preflight passed, want it refused")
			}
			if crmplan.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), "host "+tt.host) ||
				!strings.Contains(err.Error(), tt.want) || crmplan.ErrorHint(err) == "" {
				t.Fatalf("Preflight = %v (code %s, Try: %q); want %s naming host %s with %q and a Try line",
					err, crmplan.ErrorCode(err), crmplan.ErrorHint(err), tt.code, tt.host, tt.want)
			}
			t.Logf("%v\nTry: %s", err, crmplan.ErrorHint(err))
			for _, h := range hosts {
				if _, err := os.Stat(h.Dir); !os.IsNotExist(err) {
					t.Errorf("refused Preflight left %s on %s (%v)", h.Dir, h.Name, err)
				}
			}
		})
	}
}

// TestAnotherStacksMachine: a machine that holds a host of another stack
// is refused, whatever directory the new stack's host would use.
func TestAnotherStacksMachine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rig := newRig(t, 60, 1, dir)
	first := New(load(t, rig.Inventory(t, "first.yaml", nil)), "first")
	t.Cleanup(func() { first.Close() })
	h := host(rig, "app-1")
	if err := first.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Destroy(ctx, h) })
	if err := first.Preflight(ctx, []target.Host{h}); err != nil {
		t.Fatalf("Preflight of the stack that holds the machine = %v, want nil", err)
	}
	for _, otherDir := range []string{h.Dir, filepath.Join(dir, "second-app-1")} {
		second := New(load(t, rig.Inventory(t, "second.yaml", nil)), "second")
		h2 := h
		h2.Dir = otherDir
		err := second.Create(ctx, h2)
		second.Close()
		if crmplan.ErrorCode(err) != crmplan.ECONFLICT || !strings.Contains(err.Error(), "host app-1") || crmplan.ErrorHint(err) == "" {
			t.Fatalf("Create of stack second on stack first's machine (dir %s) = %v, want ECONFLICT naming host app-1 with a Try line", otherDir, err)
		}
	}
	// Machines differ by host key, not by filesystem: web-0 shares app-1's
	// filesystem and is free.
	second := New(load(t, rig.Inventory(t, "second.yaml", nil)), "second")
	defer second.Close()
	if err := second.Preflight(ctx, []target.Host{host(rig, "web-0")}); err != nil {
		t.Fatalf("Preflight of web-0 for stack second = %v, want nil", err)
	}
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDrift: Drift reports what apply must repair on a machine (no node,
// no install directory, a directory the host needs), and nothing once the
// node runs.
func TestDrift(t *testing.T) {
	receptor := targettest.Receptor(t)
	ctx := context.Background()
	rig := newRig(t, 70, 1, t.TempDir())
	tgt := New(load(t, rig.Inventory(t, "machines.yaml", nil)), "drift")
	t.Cleanup(func() { tgt.Close() })
	h := host(rig, "app-1")
	check := func(want string, dirs ...string) {
		t.Helper()
		got, err := tgt.Drift(ctx, h, dirs)
		if err != nil || !strings.Contains(got, want) || (want == "" && got != "") {
			t.Fatalf("Drift = %q, %v; want %q", got, err, want)
		}
	}
	check("has no install directory")
	if err := tgt.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Destroy(ctx, h) })
	check("has no running Receptor node")
	n := target.Node{ID: h.Name, Dir: target.NodeDir(h.Dir), Receptor: receptor}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "---\n- node:\n    id: app-1\n    datadir: " + n.DataDir() + "\n- tcp-listener:\n    bindaddr: " + h.Address + "\n    port: 27198\n"
	if err := os.WriteFile(n.ConfigPath(), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tgt.Nodes(h).Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	check("")
	check("has no "+filepath.Join(h.Dir, "pg", "data"), filepath.Join(h.Dir, "pg", "data"))
	// A supervised program whose supervisor is gone.
	if err := os.WriteFile(filepath.Join(h.Dir, "crm-api.spec.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.Dir, "crm-api.state.json"), []byte(`{"supervisor_pid": 999999999}`), 0o600); err != nil {
		t.Fatal(err)
	}
	check("crm-api is not running")
}

// TestInstallChecksSums: a binary is installed once, checked by SHA-256,
// its sum recorded beside it; installed again it is not copied; changed on
// the machine behind crmplan's back, it is copied again.
func TestInstallChecksSums(t *testing.T) {
	ctx := context.Background()
	rig := newRig(t, 80, 1, t.TempDir())
	tgt := New(load(t, rig.Inventory(t, "machines.yaml", nil)), "install")
	t.Cleanup(func() { tgt.Close() })
	local := writeFile(t, "tool", strings.Repeat("crmplan ", 100000))
	remote := filepath.Join(t.TempDir(), "bin", "tool")
	if err := os.MkdirAll(filepath.Dir(remote), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := tgt.client(ctx, "app-1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := target.FileSHA256(local)
	install := func() os.FileInfo {
		t.Helper()
		if err := tgt.install(ctx, c, "", binary{local: local, remote: remote}); err != nil {
			t.Fatal(err)
		}
		if got, _ := target.FileSHA256(remote); got != want {
			t.Fatalf("installed file's SHA-256 %s, want %s", got, want)
		}
		rec, err := os.ReadFile(remote + ".sha256")
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(rec)), want) {
			t.Fatalf("recorded sum %q, %v; want it to end in %s", rec, err, want)
		}
		st, err := os.Stat(remote)
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("installed file %v, %v; want mode 0755", st, err)
		}
		return st
	}
	first := install()
	again := install()
	if !os.SameFile(first, again) {
		t.Errorf("an unchanged binary was copied again")
	}
	if err := os.WriteFile(remote, []byte("changed behind crmplan's back"), 0o755); err != nil {
		t.Fatal(err)
	}
	install()
}
