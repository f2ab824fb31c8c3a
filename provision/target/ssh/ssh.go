// Package ssh is the target of existing machines (`crmplan apply --target
// ssh --inventory machines.yaml`): every host of the topology is a machine
// of the inventory, reached over SSH with golang.org/x/crypto/ssh, its
// host key checked against the inventory's known_hosts (an unknown or
// changed key is refused), LAN machines through the DMZ one they name
// with via: (ProxyJump).
//
// Everything crmplan puts on a machine lives under the host's install
// directory, /opt/crmplan/STACK/HOST unless the inventory gives the host a
// dir:, so that machines sharing a filesystem (the test rig's do) never
// collide. A marker file there (.crmplan-host), and its copy in the
// machine's registry (/var/lib/crmplan/ssh, the one file outside it),
// record the stack, the host, the host key of the machine that holds it
// and the directory: Create refuses a machine that holds another stack,
// and Destroy removes both, leaving the machine as it was.
//
// The bootstrap uploads the receptor binary (over SFTP, SHA-256 checked)
// and the node's files (config, certificate, key, which the mesh prepares
// in the stack's state dir on this machine: target.Node.Files) into the
// install directory, and starts the node:
// under systemd (systemd-run) when the machine runs it, as a process of a
// session of its own otherwise. From then on everything reaches the host
// through the mesh, as on every target.
package ssh

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
)

// Name is the target's name in flags and plans.
const Name = "ssh"

// markerName is the file in a host's install directory that says which
// stack, host and machine it belongs to.
const markerName = ".crmplan-host"

// Target places hosts on the machines of an inventory. It keeps one SSH
// connection per machine; Close ends them.
type Target struct {
	Inventory *Inventory
	// Stack is the stack's name, in install directories and markers.
	Stack string
	// Agent, when set, is the crmplan-host binary the bootstrap installs at
	// target.AgentPath of every host's directory, which the host's node
	// runs as agent.
	Agent string
	// K6, when set, is the crmplan binary the bootstrap also installs, at
	// target.K6Path, on the machines of the hosts in K6Hosts: a loadgen
	// host's agent runs the k6 embedded in crmplan, which the others never
	// need (it is seven times crmplan-host's size).
	K6      string
	K6Hosts map[string]bool

	mu      sync.Mutex
	clients map[string]*conn
	dialing map[string]*sync.Mutex
	sums    sums
	// done are the installs this Target made (host, directory and local
	// binaries): the mesh installs every host's binaries at once, then
	// starts the nodes, whose Start need not ask again.
	done map[string]bool
}

func (t *Target) installed(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done[key]
}

// forgetInstalls forgets what was installed for host, whose install
// directory is gone.
func (t *Target) forgetInstalls(host string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key := range t.done {
		if strings.HasPrefix(key, host+"\x00") {
			delete(t.done, key)
		}
	}
}

func (t *Target) markInstalled(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done == nil {
		t.done = map[string]bool{}
	}
	t.done[key] = true
}

var _ target.Target = (*Target)(nil)

// New returns the target for stack on inv's machines.
func New(inv *Inventory, stack string) *Target { return &Target{Inventory: inv, Stack: stack} }

func (*Target) Name() string { return Name }

// Close ends the target's connections.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, c := range t.clients {
		c.Close()
		delete(t.clients, name)
	}
	return nil
}

// CheckRange accepts a zone range that holds a machine of the inventory:
// the machines exist already, and a range none of them is in can place no
// host.
func (t *Target) CheckRange(zone string, cidr netip.Prefix) error {
	for _, name := range t.Inventory.names() {
		if a, err := netip.ParseAddr(t.Inventory.Machines[name].Inside()); err == nil && cidr.Contains(a) {
			return nil
		}
	}
	return crmplan.Errorf(crmplan.EINVALID, "zone %s: range %s holds no machine of %s", zone, cidr, t.Inventory.File).
		In("zones").Try("the zone's cidr: the range its machines' addresses are in")
}

// checkHost refuses a host whose address is not in its zone's range or is
// not its machine's.
func (t *Target) checkHost(h target.Host) error {
	place := "host " + h.Name
	prefix, err := netip.ParsePrefix(h.CIDR)
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "zone %s: range %q: %w", h.Zone, h.CIDR, err).In(place)
	}
	addr, err := netip.ParseAddr(h.Address)
	if err != nil || !prefix.Contains(addr) {
		return crmplan.Errorf(crmplan.EINVALID, "address %q is not in zone %s's range %s", h.Address, h.Zone, h.CIDR).In(place)
	}
	m, ok := t.Inventory.Machines[h.Name]
	if !ok {
		return crmplan.Errorf(crmplan.EINVALID, "host %s has no machine in %s", h.Name, t.Inventory.File).In(place).
			Try("add to %s:\n  hosts:\n    %s: {address: %s, user: root}", t.Inventory.File, h.Name, h.Address)
	}
	if ma, err := netip.ParseAddr(m.Inside()); err == nil && ma != addr {
		return crmplan.Errorf(crmplan.EINVALID, "address %s is not its machine's (%s in %s)", h.Address, m.Inside(), t.Inventory.File).In(place).
			Try("address: %s for host %s in the plan", m.Inside(), h.Name)
	}
	if h.Dir == "" || !filepath.IsAbs(h.Dir) {
		return crmplan.Errorf(crmplan.EINTERNAL, "host %s has no absolute install directory (%q)", h.Name, h.Dir).In(place)
	}
	return nil
}

// Preflight logs in to every host's machine and checks that it holds no
// other stack, writing nothing: apply calls it first, so that an
// unreachable machine, a refused key, a changed host key, a missing via or
// a machine that is another stack's stops it before any machine is
// touched. The DMZ's machines (reached directly) come first.
func (t *Target) Preflight(ctx context.Context, hosts []target.Host) error {
	hosts = append([]target.Host(nil), hosts...)
	depth := func(h target.Host) int { r, _ := t.Inventory.Route(h.Name); return len(r) }
	sort.SliceStable(hosts, func(i, j int) bool { return depth(hosts[i]) < depth(hosts[j]) })
	for _, h := range hosts {
		if err := t.checkHost(h); err != nil {
			return err
		}
	}
	// All at once (reading only); the first error in that order is the
	// one reported.
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = t.owner(ctx, h)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// registry is where a machine lists the hosts crmplan placed on it,
// wherever their install directories are (a file per host): what tells a
// machine that holds another stack under a dir: of its own.
const registry = "/var/lib/crmplan/ssh"

func registryEntry(stack, host string) string {
	return filepath.Join(registry, stack+"."+host)
}

// owner logs in to h's machine and returns the marker line h's Create
// writes there, after checking that the machine holds no other stack.
// Machines are told apart by their host keys, so that machines sharing a
// filesystem are not taken for one.
func (t *Target) owner(ctx context.Context, h target.Host) (string, error) {
	c, err := t.client(ctx, h.Name)
	if err != nil {
		return "", err
	}
	mine := fmt.Sprintf("%s %s %s %s", t.Stack, h.Name, c.fingerprint, filepath.Clean(h.Dir))
	out, err := c.run(ctx, fmt.Sprintf("for f in %s/* /opt/crmplan/*/*/%s %s; do [ -f \"$f\" ] && { head -n1 \"$f\"; echo; }; done; true",
		registry, markerName, quote(filepath.Join(h.Dir, markerName))))
	if err != nil {
		return "", fmt.Errorf("host %s: %w", h.Name, err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 4)
		if len(f) != 4 || line == mine {
			continue
		}
		switch {
		case f[2] == c.fingerprint && f[0] != t.Stack:
			return "", crmplan.Errorf(crmplan.ECONFLICT, "machine %s holds host %s of stack %s (in %s)", t.Inventory.Machines[h.Name].Address, f[1], f[0], f[3]).In("host "+h.Name).
				Try("crmplan destroy the stack %s first, or give host %s another machine in %s", f[0], h.Name, t.Inventory.File)
		case f[3] == filepath.Clean(h.Dir) && (f[0] != t.Stack || f[1] != h.Name):
			return "", crmplan.Errorf(crmplan.ECONFLICT, "install directory %s holds host %s of stack %s", h.Dir, f[1], f[0]).In("host "+h.Name).
				Try("give host %s another dir: in %s, or destroy the stack that owns it", h.Name, t.Inventory.File)
		}
	}
	return mine, nil
}

// Create checks h and its machine, then makes its install directory with
// the marker, and lists it in the machine's registry. A host that exists
// already is no error.
func (t *Target) Create(ctx context.Context, h target.Host) error {
	if err := t.checkHost(h); err != nil {
		return err
	}
	mine, err := t.owner(ctx, h)
	if err != nil {
		return err
	}
	// 0755: PostgreSQL, running as its own user, must pass through to its
	// data directory below.
	script := fmt.Sprintf(`set -e
mkdir -p %[1]s %[4]s
chmod 0755 %[1]s
printf '%%s\n' %[2]s > %[3]s.tmp; mv %[3]s.tmp %[3]s
printf '%%s\n' %[2]s > %[5]s.tmp; mv %[5]s.tmp %[5]s`,
		quote(h.Dir), quote(mine), quote(filepath.Join(h.Dir, markerName)), registry, quote(registryEntry(t.Stack, h.Name)))
	if _, err := t.run(ctx, h.Name, script); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

// Exists reports whether h's install directory holds its marker.
func (t *Target) Exists(ctx context.Context, h target.Host) (bool, error) {
	out, err := t.run(ctx, h.Name, "test -f "+quote(filepath.Join(h.Dir, markerName))+" && echo yes; true")
	if err != nil {
		return false, fmt.Errorf("host %s: %w", h.Name, err)
	}
	return strings.TrimSpace(out) == "yes", nil
}

// Destroy stops h's node and every process that runs from its install
// directory, then removes the directory and the host's registry entry
// (and /opt/crmplan/STACK, /opt/crmplan and the registry when they are
// left empty). A host that is gone is no
// error; a machine that cannot be reached is.
func (t *Target) Destroy(ctx context.Context, h target.Host) error {
	if h.Dir == "" || !filepath.IsAbs(h.Dir) || filepath.Clean(h.Dir) == "/" {
		return crmplan.Errorf(crmplan.EINTERNAL, "host %s has no install directory to remove (%q)", h.Name, h.Dir).In("host " + h.Name)
	}
	if err := t.Nodes(h).Stop(node(h)); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	t.forgetInstalls(h.Name)
	dir := filepath.Clean(h.Dir)
	script := reapScript(dir) + fmt.Sprintf("\nrm -rf -- %s\nrm -f %s\nrmdir %s /opt/crmplan %s %s 2>/dev/null; true",
		quote(dir), quote(registryEntry(t.Stack, h.Name)), quote(filepath.Dir(DefaultDir(t.Stack, h.Name))), registry, filepath.Dir(registry))
	if _, err := t.run(ctx, h.Name, script); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

// reapScript ends every process whose command line names a file under dir
// (the node, the agent's supervisors, the roles, PostgreSQL with its data
// directory there): SIGTERM, then SIGKILL for what remains after five
// seconds.
func reapScript(dir string) string {
	// This script's own processes (its shell, subshells and grep name dir
	// too) are in its session, which the processes it reaps are not.
	return fmt.Sprintf(`set -- $(sed 's/.*) //' /proc/$$/stat); mysid=$4
pids() {
  for p in /proc/[0-9]*; do
    set -- $(sed 's/.*) //' $p/stat 2>/dev/null)
    [ -n "$1" ] && [ "$1" != Z ] && [ "$4" != "$mysid" ] || continue
    tr '\0' '\n' < $p/cmdline 2>/dev/null | grep -q -F -- %[1]s && echo ${p#/proc/}
  done
}
left=$(pids)
[ -n "$left" ] && kill -TERM $left 2>/dev/null
i=0
while [ -n "$left" ] && [ $i -lt 50 ]; do sleep 0.1; left=$(pids); i=$((i+1)); done
[ -n "$left" ] && kill -KILL $left 2>/dev/null
i=0
while [ -n "$left" ] && [ $i -lt 50 ]; do sleep 0.1; left=$(pids); i=$((i+1)); done
[ -z "$left" ] || { echo "processes $left outlive SIGKILL" >&2; exit 1; }`, quote(dir+"/"))
}

// node is the host's Receptor node as the mesh lays it out (HOSTDIR/mesh).
func node(h target.Host) target.Node {
	return target.Node{ID: h.Name, Dir: target.NodeDir(h.Dir)}
}

// Nodes starts and stops the host's node over SSH.
func (t *Target) Nodes(h target.Host) target.NodeLauncher { return launcher{t: t, host: h} }

// Drift says why h's machine no longer holds what crmplan left there (its
// install directory, its Receptor node, one of dirs, a supervised program
// that no longer runs), or "" when it does: what apply checks before it
// decides whether Pulumi must refresh, in one SSH round trip per machine.
func (t *Target) Drift(ctx context.Context, h target.Host, dirs []string) (string, error) {
	n := node(h)
	var b strings.Builder
	b.WriteString(runningScript(n))
	fmt.Fprintf(&b, "d=%s\n[ -f \"$d/%s\" ] || { echo 'has no install directory'; exit 0; }\n", quote(h.Dir), markerName)
	b.WriteString("running || { echo 'has no running Receptor node'; exit 0; }\n")
	for _, d := range dirs {
		fmt.Fprintf(&b, "[ -d %s ] || { echo %s; exit 0; }\n", quote(d), quote("has no "+d))
	}
	// A supervised program (provision/supervise) runs while the supervisor
	// its state file names does.
	b.WriteString(`for s in "$d"/*.spec.json; do
  [ -f "$s" ] || continue
  name=$(basename "$s" .spec.json)
  pid=$(sed -n 's/.*"supervisor_pid": *\([0-9][0-9]*\).*/\1/p' "${s%.spec.json}.state.json" 2>/dev/null | head -n 1)
  [ -n "$pid" ] && tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q supervise || { echo "$name is not running"; exit 0; }
done
`)
	out, err := t.run(ctx, h.Name, b.String())
	if err != nil {
		return "", fmt.Errorf("host %s: %w", h.Name, err)
	}
	return strings.TrimSpace(out), nil
}
