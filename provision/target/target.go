// Package target is what makes a host of a topology exist and reachable.
//
// Everything above the host is the same on every target: the Pulumi
// program describes the stack, and every role is installed, started,
// checked and stopped on its host by work units through the stack's
// Receptor mesh (provision/mesh). A target only makes the host: its
// address, the directory its files live in, and a running Receptor node
// (the bootstrap), through which everything else reaches it.
//
// Adapters are named for their technology: provision/target/loopback is
// the default (a directory and a 127.0.0.0/8 address per host on this
// machine). Every adapter passes the one contract suite in
// provision/target/targettest, as litestream runs one suite against every
// ReplicaClient. To add a target, implement Target in a package of its
// own and call targettest.Run from its tests.
package target

import (
	"context"
	"net/netip"
	"path/filepath"
)

// Host is one host of a topology as a target makes it.
type Host struct {
	Name    string // the topology's host name (web-1, db-primary-1, ...)
	Zone    string
	CIDR    string // its zone's address range
	Address string // where its services listen and other hosts reach it
	// Dir is where crmplan keeps the host's files: releases, role specs,
	// data, logs and the Receptor node's files (Dir/mesh).
	Dir string
}

// Target makes hosts exist and reachable. Every method is idempotent:
// apply may be interrupted at any point and run again.
type Target interface {
	// Name is how flags and plans name the target ("local").
	Name() string
	// CheckRange refuses, before anything is made, a zone range in which
	// this target cannot place hosts.
	CheckRange(zone string, cidr netip.Prefix) error
	// Create makes the host exist and reachable at its address. A host
	// that exists already is no error.
	Create(ctx context.Context, h Host) error
	// Exists reports whether the host is still there, so that a refresh
	// notices one that was removed behind crmplan's back.
	Exists(ctx context.Context, h Host) (bool, error)
	// Destroy stops whatever runs on the host and removes it, leaving no
	// process, address or file behind. A host that is gone is no error.
	Destroy(ctx context.Context, h Host) error
	// Nodes is how the host's Receptor node is started and stopped: the
	// bootstrap. Its files (config, certificate, key) are prepared by the
	// mesh in the node's Dir first.
	Nodes(h Host) NodeLauncher
}

// Node is a Receptor node as a launcher sees it.
type Node struct {
	ID       string
	Dir      string // config, certificate, key, data, control socket, log and pid file
	Receptor string // the receptor binary
	// Files, when set, is where this machine holds the config,
	// certificate and key the mesh prepared for a host that is another
	// machine: its launcher copies them into Dir on the host (and keeps
	// the copy of the config it started, receptor.yaml.running, here).
	// Empty: they are in Dir.
	Files string
}

// Local is the directory on this machine that holds n's config,
// certificate and key.
func (n Node) Local() string {
	if n.Files != "" {
		return n.Files
	}
	return n.Dir
}

// Paths of the node's files; the mesh writes the config, certificate and
// key, the launcher the pid file and the log.
func (n Node) ConfigPath() string { return filepath.Join(n.Dir, "receptor.yaml") }
func (n Node) DataDir() string    { return filepath.Join(n.Dir, "data") }
func (n Node) SocketPath() string { return filepath.Join(n.Dir, "control.sock") }
func (n Node) LogPath() string    { return filepath.Join(n.Dir, "receptor.log") }
func (n Node) PIDPath() string    { return filepath.Join(n.Dir, "receptor.pid") }

// NodeLauncher starts and stops Receptor nodes on one kind of host.
type NodeLauncher interface {
	// Start launches the node from the config in its Dir; it must outlive
	// crmplan, as a host's node does between applies.
	Start(ctx context.Context, n Node) error
	// Running returns the pid of the node's receptor process when it runs
	// n's config.
	Running(n Node) (pid int, ok bool)
	// Stop ends the node; a node that does not run is no error.
	Stop(n Node) error
	// Kill ends the node at once, with no chance to clean up, as a power
	// loss would (crmplan verify --chaos); when it returns the node's
	// process is gone. A node that does not run is no error.
	Kill(n Node) error
}

// Hardware is what a target's hosts run on, as the capacity model needs it
// to predict the stack where it is deployed rather than on the plan's
// servers.
type Hardware struct {
	// SharedCores, above 0, is the cores every host of a stack and the load
	// generator share: the hosts are processes on one machine. 0 means each
	// host has the cores its plan tier gives it.
	SharedCores int `json:"shared_cores"`
	// Busy, when set, reads the CPU seconds every process of the shared
	// machine has used (MachineBusy): the stack's, the generator's and
	// anyone else's, so that verify can tell how much of SharedCores
	// other work took.
	Busy func() (float64, error) `json:"-"`
}

// HardwareTarget is a Target that knows the hardware it deploys on. It is
// its own interface so that an adapter that cannot tell (hosts an
// inventory names) need not guess.
type HardwareTarget interface {
	Hardware() Hardware
}

// MeshSeen is a NodeLauncher whose nodes this machine cannot see (an EC2
// instance's systemd unit runs it, and its Running always says no): that
// such a node runs is that the controller routes to it.
type MeshSeen interface {
	SeenThroughMesh()
}

// Installer is a NodeLauncher that copies a node's binaries to its host
// before Start: the mesh installs every host's at once, where starting
// nodes goes one by one.
type Installer interface {
	Install(ctx context.Context, n Node) error
}

// Set is the targets a provider knows, by name.
type Set map[string]Target

// Default is the target a plan gets when it names none.
const Default = "local"

// NodeDir is where a host's Receptor node keeps its files: HOSTDIR/mesh.
func NodeDir(hostDir string) string { return filepath.Join(hostDir, "mesh") }

// AgentPath is where a target whose hosts are other machines (ssh)
// installs the crmplan-host binary their nodes run as agent:
// HOSTDIR/bin/crmplan-host.
func AgentPath(hostDir string) string { return filepath.Join(hostDir, "bin", "crmplan-host") }

// K6Path is where such a target installs crmplan on a loadgen host, next
// to the agent: the agent's load work runs the k6 embedded in it.
func K6Path(hostDir string) string { return filepath.Join(hostDir, "bin", "crmplan") }
