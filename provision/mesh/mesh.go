// Package mesh deploys onto hosts over an Ansible Receptor mesh: one
// Receptor node per host, plus the controller (the crmplan process that
// applies), so that the controller reaches LAN hosts only through a relay
// in the DMZ, never directly.
//
// Shape. The relay is the first DMZ host (by name); it alone listens. Every
// other node dials out to it: LAN agents open a connection from the LAN to
// the DMZ, which is the direction a DMZ firewall allows (LAN -> DMZ), so the
// DMZ never needs an inbound rule into the LAN; the controller dials the
// relay and peers with nothing else. A topology without a DMZ uses the
// first host of its first zone as the relay.
//
// Trust. apply generates a CA per stack (ca.key, 0600, in the stack's mesh
// directory) and a certificate per node that names its node ID (Receptor's
// otherName in the subjectAltName) and the address it listens on. Links are
// mutual TLS: the relay requires a client certificate from the stack's CA
// and pins the fingerprints of exactly the stack's node certificates; the
// others pin the relay's. A node with a certificate of another stack is
// refused at the TLS handshake. Receptor's link TLS does not tie a
// certificate to the node ID the peer claims, so Start checks every
// certificate's node ID before launching a node, and after the mesh forms,
// that the relay knows exactly the expected nodes. Work goes end to end:
// the controller opens TLS to the target node's control service and checks
// the node ID in its certificate (Receptor's tlsclient), each node's
// control service accepts only the controller's certificate over the mesh,
// and work-commands require a submission signed with the controller's
// work-signing key (signwork). Only the controller can submit work.
//
// Receptor runs as its own process per node (the receptor-cl binary, built
// into bin/ by `make bin/receptor`): embedding it as a library brings global
// state (MainInstance), a re-exec for command workers, a goroutine leak and
// Kubernetes client-go into crmplan; its config file and control socket
// (JSON lines) are a stable interface.
//
// What the controller and the hosts' agents agree on (the agent's work
// types, the role spec, crm web's admin socket) is in package wire, which
// the agent imports instead of this package: the agent runs on hosts and
// links nothing of the planning side, topology included.
package mesh

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/topology"
)

// ControllerID is the node ID of the controller. Host names of a topology
// are "<role>-<n>", so it cannot collide with one.
const ControllerID = "controller"

// DefaultPort is the relay's mesh port.
const DefaultPort = 27199

// Node is one Receptor node of the mesh.
type Node struct {
	ID      string
	Host    topology.Host // the host it runs on; zero for the controller
	Relay   bool
	Address string // the address the relay listens on; the host's address otherwise
	Port    int    // the relay's listening port; 0 for the others
	Dir     string // config, certificate, key, data, control socket and log
	// Files is where this machine keeps the node's config, certificate,
	// key, CA and work-verification key: Dir itself, unless the host is
	// another machine (Options.Remote), whose files the mesh prepares in
	// the stack's mesh directory (mesh/hosts/HOST) for the target's
	// bootstrap to copy to Dir on the host. Nothing is ever written at a
	// remote host's Dir on this machine.
	Files string
}

// local is n as this machine holds it: its paths under Files.
func (n Node) local() Node {
	if n.Files != "" {
		n.Dir = n.Files
	}
	return n
}

// Paths of the node's files.
func (n Node) ConfigPath() string { return filepath.Join(n.Dir, "receptor.yaml") }
func (n Node) CertPath() string   { return filepath.Join(n.Dir, "node.crt") }
func (n Node) KeyPath() string    { return filepath.Join(n.Dir, "node.key") }
func (n Node) DataDir() string    { return filepath.Join(n.Dir, "data") }
func (n Node) SocketPath() string { return filepath.Join(n.Dir, "control.sock") }
func (n Node) LogPath() string    { return filepath.Join(n.Dir, "receptor.log") }
func (n Node) PIDPath() string    { return filepath.Join(n.Dir, "receptor.pid") }

// WorkType is a kind of work a host's node runs: Receptor's work-command.
// Runtime parameters given to Run are appended to Params.
type WorkType struct {
	Name    string
	Command string
	Params  string
}

// Options tune a Mesh. The zero value is the production setup.
type Options struct {
	// Port is the relay's mesh port (DefaultPort).
	Port int
	// Receptor is the receptor binary: flag --receptor or env
	// CRMPLAN_RECEPTOR; default bin/receptor next to the crmplan binary,
	// then $PATH.
	Receptor string
	// HostDir is where a host's files live; its node goes into HostDir/mesh.
	// Default: STATE/STACK/hosts/HOST, as the local target lays hosts out.
	HostDir func(host string) string
	// WorkTypes lists the work a host runs. Default: crmplan-host's agent
	// (AgentWorkTypes with AgentBin).
	WorkTypes func(host topology.Host, hostDir string) []WorkType
	// LogLevel of the nodes: error, warning, info (default) or debug.
	LogLevel string
	// Launcher is how a host's node is started: its target's bootstrap
	// (provision/target). Default: a process of this machine, as the
	// loopback target runs it.
	Launcher func(host string) target.NodeLauncher
	// Target names the target that made the hosts. Save records it, so
	// that Open starts a host's node as that target does (inside the
	// host's network namespace on an isolated stack), not as a process of
	// this machine's own namespace.
	Target string
	// AgentBin is the crmplan-host binary the default work types run;
	// default: crmplan-host next to the running binary.
	AgentBin string
	// Remote says that hosts' nodes run on machines that need not share
	// this machine's filesystem (the ssh target, whose bootstrap copies a
	// node's directory and AgentBin there): every file a host node's
	// config names is in its directory (the CA, the work-verification
	// key), its work types run the agent installed at target.AgentPath of
	// its host's directory, and its start is awaited through the relay
	// rather than on its control socket.
	Remote bool
	// RelayPublic is another address of the relay, the one the controller
	// dials when it is outside the hosts' network (an EC2 relay's public
	// address, which AWS translates to its private one). The relay's
	// certificate names it too, since the controller checks the address it
	// dialled against it; the hosts' nodes still dial the private address.
	RelayPublic string
}

// Mesh is the Receptor mesh of one stack.
type Mesh struct {
	stack    string
	topo     topology.Topology
	dir      string // STATE/STACK/mesh: CA, signing key, controller node
	opts     Options
	nodes    []Node // the relay first, then hosts by name; no controller
	ctrl     Node
	receptor string
	procs    map[string]*exec.Cmd
}

// New lays out the mesh of a topology whose hosts have their addresses. It
// does no I/O beyond finding the receptor binary; Start writes files and
// starts nodes.
func New(stateDir, stack string, topo topology.Topology, opts Options) (*Mesh, error) {
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	paths := stackdir.Paths{StateDir: stateDir, Stack: stack}
	if opts.HostDir == nil {
		opts.HostDir = paths.HostDir
	}
	m := &Mesh{stack: stack, topo: topo, dir: paths.MeshDir(), opts: opts, procs: map[string]*exec.Cmd{}}
	if opts.WorkTypes == nil {
		self := opts.AgentBin
		if self == "" {
			exe, err := os.Executable()
			if err != nil {
				return nil, err
			}
			self = filepath.Join(filepath.Dir(exe), "crmplan-host")
		}
		m.opts.WorkTypes = func(h topology.Host, dir string) []WorkType {
			if opts.Remote {
				return AgentWorkTypes(target.AgentPath(dir), dir)
			}
			return AgentWorkTypes(self, dir)
		}
	}
	if len(topo.Hosts) == 0 {
		return nil, crmplan.Errorf(crmplan.EINVALID, "the topology has no hosts to deploy onto").In("stack " + stack)
	}
	relay, err := pickRelay(topo)
	if err != nil {
		return nil, err
	}
	hosts := append([]topology.Host(nil), topo.Hosts...)
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	m.nodes = append(m.nodes, m.hostNode(Node{ID: relay.Name, Host: relay, Relay: true, Address: relay.Address, Port: opts.Port}))
	for _, h := range hosts {
		if h.Name == ControllerID {
			return nil, crmplan.Errorf(crmplan.EINVALID, "host name %q is the mesh controller's node ID", h.Name).In("host " + h.Name)
		}
		if net.ParseIP(h.Address) == nil {
			return nil, crmplan.Errorf(crmplan.EINVALID, "host %s has no address (%q)", h.Name, h.Address).In("host " + h.Name)
		}
		if h.Name != relay.Name {
			m.nodes = append(m.nodes, m.hostNode(Node{ID: h.Name, Host: h, Address: h.Address}))
		}
	}
	m.ctrl = Node{ID: ControllerID, Dir: filepath.Join(m.dir, ControllerID)}
	for _, n := range append(m.Nodes(), m.ctrl) {
		// A Unix socket path is limited to 108 bytes (sun_path).
		if len(n.SocketPath()) > 100 {
			return nil, crmplan.Errorf(crmplan.EINVALID, "control socket path of node %s is too long for a Unix socket (%d bytes): %s",
				n.ID, len(n.SocketPath()), n.SocketPath()).In("--state-dir").Try("crmplan apply --state-dir /var/lib/crmplan")
		}
	}
	if opts.RelayPublic != "" && net.ParseIP(opts.RelayPublic) == nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "the relay's public address %q is not an IP address", opts.RelayPublic).In("mesh " + stack)
	}
	m.receptor, err = findReceptor(opts.Receptor)
	return m, err
}

// hostNode places n, a host's node, in its host's directory, with its
// files on this machine in the mesh directory when the host is another
// machine.
func (m *Mesh) hostNode(n Node) Node {
	n.Dir = stackdir.HostMeshDir(m.opts.HostDir(n.ID))
	n.Files = n.Dir
	if m.opts.Remote {
		n.Files = filepath.Join(m.dir, "hosts", n.ID)
	}
	return n
}

// RelayOf is the host whose node is the relay of topo's mesh, which every
// other node and the controller dial on DefaultPort: an isolated stack's
// policy must let them.
func RelayOf(topo topology.Topology) (topology.Host, error) { return pickRelay(topo) }

// pickRelay returns the first DMZ host in the plan's order (the first
// server of the plan's first DMZ tier, the entry tier as the seeds list
// it), or, without a DMZ, the first host of the first zone. Plan order, not
// the name: a DMZ role added to a plan later (seed 000's marketing server,
// seed 002's vpn, which only an isolated stack runs) must not become the
// relay, the host every LAN machine's node and the inventory's via: go
// through. The first server of a tier is also the last a scale-in removes.
func pickRelay(topo topology.Topology) (topology.Host, error) {
	kinds := map[string]topology.ZoneKind{}
	for _, z := range topo.Zones {
		kinds[z.Name] = z.Kind
	}
	pick := func(ok func(topology.Host) bool) (topology.Host, bool) {
		for _, h := range topo.Hosts {
			if ok(h) {
				return h, true
			}
		}
		return topology.Host{}, false
	}
	if h, ok := pick(func(h topology.Host) bool { return kinds[h.Zone] == topology.DMZ }); ok {
		return h, nil
	}
	zone := topo.Hosts[0].Zone
	if len(topo.Zones) > 0 {
		zone = topo.Zones[0].Name
	}
	if h, ok := pick(func(h topology.Host) bool { return h.Zone == zone }); ok {
		return h, nil
	}
	return topo.Hosts[0], nil
}

// Nodes returns the hosts' nodes: the relay first, then the others by name.
func (m *Mesh) Nodes() []Node { return append([]Node(nil), m.nodes...) }

// Controller returns the controller's node.
func (m *Mesh) Controller() Node { return m.ctrl }

// Relay returns the relay's node.
func (m *Mesh) Relay() Node { return m.nodes[0] }

// NodeFile is one of a node's files: where this machine keeps it and
// where the node reads it on its host.
type NodeFile struct{ Local, Host string }

// NodeFiles are the files a host's node reads, as Prepare writes them on
// this machine: its config, certificate and key, the stack's CA and the
// work-verification key. A target whose hosts do not share this machine's
// disk (an EC2 instance's cloud-init) writes each Local file at Host.
func (m *Mesh) NodeFiles(n Node) []NodeFile {
	l := n.local()
	files := []NodeFile{
		{Local: l.ConfigPath(), Host: n.ConfigPath()},
		{Local: l.CertPath(), Host: n.CertPath()},
		{Local: l.KeyPath(), Host: n.KeyPath()},
	}
	if m.opts.Remote {
		// Its config names the copies beside its own files (copyShared).
		return append(files,
			NodeFile{Local: filepath.Join(l.Dir, "ca.crt"), Host: filepath.Join(n.Dir, "ca.crt")},
			NodeFile{Local: filepath.Join(l.Dir, "work.pub"), Host: filepath.Join(n.Dir, "work.pub")})
	}
	return append(files, NodeFile{Local: m.caPath(), Host: m.caPath()}, NodeFile{Local: m.verifyKeyPath(), Host: m.verifyKeyPath()})
}

// RelayAddr is the host:port every other node dials.
func (m *Mesh) RelayAddr() string {
	r := m.Relay()
	return net.JoinHostPort(r.Address, strconv.Itoa(r.Port))
}

// ControllerRelayAddr is the host:port the controller dials: the relay's
// public address when it has one (Options.RelayPublic), else RelayAddr.
func (m *Mesh) ControllerRelayAddr() string {
	if m.opts.RelayPublic == "" {
		return m.RelayAddr()
	}
	return net.JoinHostPort(m.opts.RelayPublic, strconv.Itoa(m.Relay().Port))
}

// Has says whether host has a node in the mesh.
func (m *Mesh) Has(host string) bool {
	_, err := m.node(host)
	return err == nil
}

// node returns the node of host, or an error naming the hosts there are.
func (m *Mesh) node(host string) (Node, error) {
	for _, n := range m.nodes {
		if n.ID == host {
			return n, nil
		}
	}
	return Node{}, crmplan.Errorf(crmplan.ENOTFOUND, "host %s is not in the mesh of stack %s", host, m.stack).In("host " + host)
}

// findReceptor resolves the receptor binary: the given path, then env
// CRMPLAN_RECEPTOR, then next to the running binary, then $PATH.
func findReceptor(given string) (string, error) {
	if given == "" {
		given = os.Getenv("CRMPLAN_RECEPTOR")
	}
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", crmplan.Errorf(crmplan.EUNAVAILABLE, "receptor binary %s: %w", given, err).In("--receptor").Try("make bin/receptor")
		}
		return given, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "receptor")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("receptor"); err == nil {
		return p, nil
	}
	return "", crmplan.Errorf(crmplan.EUNAVAILABLE, "no receptor binary next to crmplan or on $PATH").
		In("--receptor").Try("make bin/receptor   # or set CRMPLAN_RECEPTOR=/path/to/receptor")
}

func (m *Mesh) String() string {
	return fmt.Sprintf("mesh %s (relay %s)", m.stack, m.ControllerRelayAddr())
}
