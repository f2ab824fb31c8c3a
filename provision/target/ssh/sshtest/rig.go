// Package sshtest is the ssh target's test rig: machines made of network
// namespaces of this machine (the --isolate target's, provision/target/
// netns), each running Debian's OpenSSH server with a host key of its own,
// with a test key authorized on all of them and a known_hosts that holds
// their keys. DMZ machines answer this machine on port 22; LAN machines
// answer only the DMZ's, so they are reached through one (via:).
//
// No packet of the rig leaves the machine: a blackhole route covers the
// rig's whole range before anything is made, the DMZ's range is routed
// into the rig's router and the LAN's is unreachable from this machine's
// namespace, and New checks both before any sshd starts.
//
// The namespaces share this machine's filesystem and process table, as
// the ssh target's contract suite expects of a rig: every machine's
// install directory must differ (the inventory's dir:).
package sshtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sys/unix"

	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/netns"
)

// Sshd is Debian's OpenSSH server (openssh-server, `make deps`).
const Sshd = "/usr/sbin/sshd"

// Machine is one machine of the rig.
type Machine struct {
	Name    string
	Zone    string // "dmz" machines answer this machine, the others only the DMZ's
	Address netip.Addr
	// Via is the DMZ machine a LAN machine is reached through (the
	// inventory's via:).
	Via string
	// Dir is its install directory (the inventory's dir:); empty: none.
	Dir string
	// Private gives the machine a filesystem of its own below Dir's
	// parent: a tmpfs mounted there in a mount namespace of its sshd's
	// (and so of everything its sessions start), which this machine does
	// not see, nor the machine what this machine writes there. It is how
	// a test catches a file written on the wrong side. Dir's parent must
	// be a directory of its own (the mount point).
	Private bool
}

// Config describes a rig.
type Config struct {
	// Range covers every zone of the rig: a blackhole for all of it is
	// routed first, and no other test may use it.
	Range    netip.Prefix
	DMZ, LAN netip.Prefix
	Machines []Machine
	// Rules are what the router lets through besides SSH (this machine to
	// the DMZ's port 22, the DMZ's machines to the LAN's).
	Rules []netns.Rule
}

// Rig is a set of running machines.
type Rig struct {
	Dir        string
	Key        string // the test's private key (OpenSSH format)
	KnownHosts string
	Machines   map[string]Machine
	HostKeys   map[string]gossh.PublicKey
	cfg        Config
	net        netns.Target
	hosts      map[string]target.Host
}

// New makes the rig's machines and starts their sshd; they are removed
// when the test ends. It skips the test where the rig cannot be made: not
// root, no network namespaces, no sshd.
func New(t testing.TB, cfg Config) *Rig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the ssh rig needs root (network namespaces)")
	}
	if _, err := os.Stat(Sshd); err != nil {
		t.Skipf("no OpenSSH server at %s: make deps (apt-get install openssh-server)", Sshd)
	}
	r := &Rig{Dir: t.TempDir(), Machines: map[string]Machine{}, HostKeys: map[string]gossh.PublicKey{}, cfg: cfg, hosts: map[string]target.Host{}}
	blackhole := netlink.Route{Dst: ipnet(cfg.Range), Type: unix.RTN_BLACKHOLE, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_STATIC, Priority: 4243}
	if err := netlink.RouteReplace(&blackhole); err != nil {
		t.Fatalf("blackhole %s: %v", cfg.Range, err)
	}
	t.Cleanup(func() { _ = netlink.RouteDel(&blackhole) })
	rules := append(r.sshRules(), cfg.Rules...)
	machinesDir := filepath.Join(r.Dir, "machines")
	r.net = netns.Target{Stack: machinesDir, Policy: rules,
		Zones: []netns.Zone{{Name: "dmz", CIDR: cfg.DMZ, Outside: true}, {Name: "lan", CIDR: cfg.LAN}}}
	if err := r.net.CheckRange("dmz", cfg.DMZ); err != nil {
		t.Skipf("no isolated machines here: %v", err)
	}
	t.Cleanup(func() {
		if err := r.net.DestroyStack(context.Background()); err != nil {
			t.Errorf("rig: %v", err)
		}
	})
	key := r.keyPair(t, filepath.Join(r.Dir, "id_ed25519"))
	r.Key = filepath.Join(r.Dir, "id_ed25519")
	if err := os.WriteFile(filepath.Join(r.Dir, "authorized_keys"), gossh.MarshalAuthorizedKey(key), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range cfg.Machines {
		cidr := cfg.LAN
		if m.Zone == "dmz" {
			cidr = cfg.DMZ
		}
		h := target.Host{Name: m.Name, Zone: m.Zone, CIDR: cidr.String(), Address: m.Address.String(), Dir: filepath.Join(machinesDir, m.Name)}
		if err := r.net.Create(context.Background(), h); err != nil {
			t.Fatalf("rig machine %s: %v", m.Name, err)
		}
		r.hosts[m.Name] = h
		r.Machines[m.Name] = m
	}
	r.checkRoutes(t)
	var known []string
	for _, m := range cfg.Machines {
		pub := r.startSshd(t, m)
		r.HostKeys[m.Name] = pub
		known = append(known, knownhosts.Line([]string{m.Address.String()}, pub))
	}
	r.KnownHosts = filepath.Join(r.Dir, "known_hosts")
	if err := os.WriteFile(r.KnownHosts, []byte(strings.Join(known, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkRoutes fails the test unless this machine routes every DMZ
// address into the rig's uplink and has no route to the LAN's: before any
// sshd runs, so nothing can have connected yet.
func (r *Rig) checkRoutes(t testing.TB) {
	t.Helper()
	for _, m := range r.cfg.Machines {
		got, err := netlink.RouteGet(m.Address.AsSlice())
		if m.Zone != "dmz" {
			if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
				t.Fatalf("rig: route to LAN machine %s (%s) = %v, %v; want unreachable", m.Name, m.Address, got, err)
			}
			continue
		}
		if err != nil || len(got) == 0 {
			t.Fatalf("rig: route to DMZ machine %s (%s) = %v, %v", m.Name, m.Address, got, err)
		}
		link, err := netlink.LinkByIndex(got[0].LinkIndex)
		if err != nil || link.Type() != "veth" || !strings.HasPrefix(link.Attrs().Name, "crm") {
			t.Fatalf("rig: route to DMZ machine %s (%s) leaves through %v, want the rig's uplink", m.Name, m.Address, link)
		}
	}
}

// Allow lets rules through the rig's router besides SSH: the connections
// a stack on the rig's machines needs, as their firewalls would.
func (r *Rig) Allow(ctx context.Context, rules []netns.Rule) error {
	r.net.Policy = append(r.sshRules(), rules...)
	return r.net.Enforce(ctx)
}

// sshRules let this machine reach the DMZ's sshd, and the DMZ's machines
// the LAN's.
func (r *Rig) sshRules() []netns.Rule {
	var rules []netns.Rule
	for _, m := range r.cfg.Machines {
		if m.Zone != "dmz" {
			continue
		}
		rules = append(rules, netns.Rule{To: m.Address, Port: 22})
		for _, l := range r.cfg.Machines {
			if l.Zone != "dmz" {
				rules = append(rules, netns.Rule{From: netip.PrefixFrom(m.Address, 32), To: l.Address, Port: 22})
			}
		}
	}
	return rules
}

// Namespace is the network namespace of machine name.
func (r *Rig) Namespace(name string) string {
	ns, _ := r.net.Namespace(r.hosts[name])
	return ns
}

// keyPair writes a new ed25519 private key to path in OpenSSH's format
// and returns its public key.
func (r *Rig) keyPair(t testing.TB, path string) gossh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// NewKey writes another key pair into the rig's directory, one no machine
// authorizes, and returns the private key's file.
func (r *Rig) NewKey(t testing.TB, name string) (string, gossh.PublicKey) {
	p := filepath.Join(r.Dir, name)
	return p, r.keyPair(t, p)
}

// startSshd runs sshd in m's namespace with a host key of its own,
// listening on m's address, and waits until it listens.
func (r *Rig) startSshd(t testing.TB, m Machine) gossh.PublicKey {
	t.Helper()
	dir := filepath.Join(r.Dir, "sshd-"+m.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// sshd's privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	pub := r.keyPair(t, hostKey)
	conf := strings.Join([]string{
		"ListenAddress " + m.Address.String() + ":22",
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(r.Dir, "authorized_keys"),
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no", // the test's temporary directory is no home
		"AllowTcpForwarding yes",
		"Subsystem sftp internal-sftp",
		"MaxSessions 64",
		"MaxStartups 64",
	}, "\n") + "\n"
	confPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "sshd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	argv := []string{"nsenter", "--net=/run/netns/" + r.Namespace(m.Name), "--", Sshd, "-D", "-e", "-f", confPath}
	if m.Private {
		root := filepath.Dir(m.Dir)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		// The namespace lives as long as a process in it: sshd, or what a
		// session left running (the node) until the test's destroy ends it.
		argv = append(argv[:3], "unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
			`mount -t tmpfs -o mode=0755 crmplan-rig "$0" && exec "$@"`, root, Sshd, "-D", "-e", "-f", confPath)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("sshd on %s: %v", m.Name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		log, _ := os.ReadFile(logPath)
		if strings.Contains(string(log), "Server listening on") {
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("sshd on %s does not listen:\n%s", m.Name, log)
		}
	}
	return pub
}

// Log is machine name's sshd log, for a failing test's message.
func (r *Rig) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "sshd-"+name, "sshd.log"))
	return string(b)
}

// Inventory writes an inventory of the rig's machines in the issue's
// format (hosts:, ssh: key and known_hosts) and returns its path. edit,
// when set, changes machines before they are written.
func (r *Rig) Inventory(t testing.TB, name string, edit func(m map[string]Machine)) string {
	t.Helper()
	ms := map[string]Machine{}
	for k, v := range r.Machines {
		ms[k] = v
	}
	if edit != nil {
		edit(ms)
	}
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, m := range r.cfg.Machines {
		m, ok := ms[m.Name]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "  %s: {address: %s, user: root, port: 22", m.Name, m.Address)
		if m.Via != "" {
			fmt.Fprintf(&b, ", via: %s", m.Via)
		}
		if m.Dir != "" {
			fmt.Fprintf(&b, ", dir: %s", m.Dir)
		}
		b.WriteString("}\n")
	}
	fmt.Fprintf(&b, "ssh:\n  key: %s\n  known_hosts: %s\n", r.Key, r.KnownHosts)
	p := filepath.Join(r.Dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// DialFrom connects to addr:port from this machine's namespace and returns
// the connect's error: what the rig lets through from here.
func DialFrom(addr netip.Addr, port int) error {
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(addr, uint16(port)).String(), 2*time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
