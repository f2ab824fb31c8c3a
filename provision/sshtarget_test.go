package provision

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// TestSSHLayoutFailover lays seed 000 out on machines: manual failover
// (which goes through the mesh) and automatic are laid out; automatic
// fences by the lease (package watchdog), so the policy lets the replica's
// machine reach the primary's guard, and only then.
func TestSSHLayoutFailover(t *testing.T) {
	laid := laidExample(t, "simplecrm.yaml")
	dir := t.TempDir()
	var inv strings.Builder
	inv.WriteString("hosts:\n")
	for i, h := range laid.Topology.Hosts {
		zone := 2
		if h.Zone == "dmz" {
			zone = 1
		}
		fmt.Fprintf(&inv, "  %s: {address: 10.20.%d.%d, user: root}\n", h.Name, zone, 10+i)
	}
	fmt.Fprintf(&inv, "ssh:\n  key: %s\n  known_hosts: %s\n", filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts"))
	file := filepath.Join(dir, "machines.yaml")
	if err := os.WriteFile(file, []byte(inv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		failover topology.Failover
		want     bool // automatic, with the lease
	}{
		{name: "manual", failover: topology.Manual},
		{name: "default", failover: ""},
		{name: "automatic", failover: topology.Automatic, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Request{StateDir: t.TempDir(), Stack: "simplecrm", Topology: laid.Topology, Inventory: file, Failover: tt.failover}
			l, err := r.layout()
			if err != nil || l.Primary == nil || len(l.Replicas) == 0 || l.AutoFailover != tt.want || l.leaseFailover() != tt.want {
				t.Fatalf("layout: %v (primary %v, %d replicas, automatic %v, lease %v)", err, l.Primary, len(l.Replicas), l.AutoFailover, l.leaseFailover())
			}
			rules, err := Connections(r)
			if err != nil {
				t.Fatal(err)
			}
			guard := false
			for _, rule := range rules {
				if rule.Port == GuardPort {
					guard = rule.To.String() == l.Primary.Address && rule.From.Addr().String() == l.Replicas[0].Address
					if !guard {
						t.Errorf("guard rule %+v, want %s to %s", rule, l.Replicas[0].Address, l.Primary.Address)
					}
				}
			}
			if guard != tt.want {
				t.Errorf("a rule from the replica to the primary's guard: %v, want %v", guard, tt.want)
			}
		})
	}
}

// TestSameMachines: apply skips the SSH checks only for the machines an
// earlier apply saved, logged in to the same way.
func TestSameMachines(t *testing.T) {
	paths := stackdir.Paths{StateDir: t.TempDir(), Stack: "simplecrm"}
	inv := func() *ssh.Inventory {
		return &ssh.Inventory{Key: "/k", KnownHosts: "/kh", Machines: map[string]ssh.Machine{
			"web-1": {Name: "web-1", Address: "10.20.1.10", User: "root", Port: 22},
			"api-1": {Name: "api-1", Address: "10.20.2.10", User: "root", Port: 22, Via: "web-1"},
		}}
	}
	if sameMachines(paths, inv()) {
		t.Fatal("no saved inventory, yet the same machines")
	}
	if err := inv().Save(paths.Machines()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*ssh.Inventory)
		want   bool
	}{
		{name: "unchanged", change: func(*ssh.Inventory) {}, want: true},
		{name: "another address", change: func(i *ssh.Inventory) {
			i.Machines["api-1"] = ssh.Machine{Name: "api-1", Address: "10.20.2.11", User: "root", Port: 22, Via: "web-1"}
		}},
		{name: "another via", change: func(i *ssh.Inventory) { m := i.Machines["api-1"]; m.Via = ""; i.Machines["api-1"] = m }},
		{name: "a new machine", change: func(i *ssh.Inventory) { i.Machines["api-2"] = ssh.Machine{Name: "api-2", Address: "10.20.2.11"} }},
		{name: "another key", change: func(i *ssh.Inventory) { i.Key = "/other" }},
		{name: "another known_hosts", change: func(i *ssh.Inventory) { i.KnownHosts = "/other" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := inv()
			tt.change(i)
			if got := sameMachines(paths, i); got != tt.want {
				t.Errorf("sameMachines = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSSHLayoutOnExportedMachines lays seed 002 out on machines as
// crmplan inventory --from-terraform writes them for the export's
// instances: DMZ machines at a public address with a private one beside
// it, the others at their private one through the relay, and no machine
// for the vpn host, which the export leaves out. Hosts take the private
// addresses (what their interfaces have); this machine dials the relay at
// its public one, the nodes at its private one; vpn-1 is skipped.
func TestSSHLayoutOnExportedMachines(t *testing.T) {
	laid := laidExample(t, "arint.yaml")
	dir := t.TempDir()
	var inv strings.Builder
	inv.WriteString("hosts:\n")
	want := map[string]string{}
	for i, h := range laid.Topology.Hosts {
		switch {
		case h.Role == topology.RoleVPN:
			continue
		case h.Zone == "dmz":
			want[h.Name] = fmt.Sprintf("10.40.1.%d", 10+i)
			fmt.Fprintf(&inv, "  %s: {address: 203.0.113.%d, private: %s, user: root}\n", h.Name, 10+i, want[h.Name])
		default:
			want[h.Name] = fmt.Sprintf("10.40.2.%d", 10+i)
			fmt.Fprintf(&inv, "  %s: {address: %s, user: root, via: %s}\n", h.Name, want[h.Name], laid.Topology.Hosts[0].Name)
		}
	}
	fmt.Fprintf(&inv, "ssh:\n  key: %s\n  known_hosts: %s\n", filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts"))
	file := filepath.Join(dir, "machines.yaml")
	if err := os.WriteFile(file, []byte(inv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Request{StateDir: t.TempDir(), Stack: "arint", Topology: laid.Topology, Inventory: file}
	l, err := r.layout()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range l.Hosts {
		if h.Address != want[h.Name] {
			t.Errorf("host %s at %s, want its private address %s", h.Name, h.Address, want[h.Name])
		}
	}
	if len(l.Hosts) != len(want) {
		t.Errorf("%d hosts laid out, want the %d with machines", len(l.Hosts), len(want))
	}
	relay := laid.Topology.Hosts[0]
	if l.RelayPublic == "" || !strings.HasPrefix(l.RelayPublic, "203.0.113.") {
		t.Errorf("the relay (%s) is dialled at %q from here, want its public address", relay.Name, l.RelayPublic)
	}
	var skipped []string
	for _, s := range l.Skipped {
		skipped = append(skipped, s.Host)
	}
	if strings.Join(skipped, " ") != "vpn-1" {
		t.Errorf("skipped %v, want vpn-1", skipped)
	}
}
