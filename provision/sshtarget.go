package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// A stack on the ssh target (crmplan apply --target ssh --inventory FILE)
// lives on existing machines. Apply reads the inventory, places every host
// at its machine's address with its install directory there, logs in to
// every machine before anything changes (ssh.Target.Preflight), and saves
// the inventory in the stack's state dir (stackdir.Paths.Machines), where
// the provider, which runs in its own process, and later commands find it.

// sshTopology gives every host of t its machine's address (the one its
// own network knows it by: ssh.Machine.Inside), and checks that each is in
// its zone's range; a zone with no range gets the smallest common /24 of
// its machines when they share one. A vpn host needs no machine: the ssh
// target skips it (vpnSkipped), and one without a machine leaves the
// topology here, named in vpnLeft, rather than take an address a machine
// may have.
func sshTopology(t topology.Topology, inv *ssh.Inventory) (out topology.Topology, vpnLeft []string, err error) {
	out = t
	out.Zones = append([]topology.Zone(nil), t.Zones...)
	out.Hosts = nil
	var names []string
	for _, h := range t.Hosts {
		if _, ok := inv.Machines[h.Name]; !ok && h.Role == topology.RoleVPN {
			vpnLeft = append(vpnLeft, h.Name)
			continue
		}
		out.Hosts = append(out.Hosts, h)
		names = append(names, h.Name)
	}
	if err := inv.Check(names); err != nil {
		return out, nil, err
	}
	for i, h := range out.Hosts {
		m := inv.Machines[h.Name]
		a, err := netip.ParseAddr(m.Inside())
		if err != nil {
			return out, nil, crmplan.Errorf(crmplan.EINVALID, "host %s's machine has address %q: the ssh target needs an IP address (the stack's policy and the mesh's certificates are by address)", h.Name, m.Address).
				In(inv.File + ": hosts." + h.Name + ".address").Try("address: 10.20.1.10   # or, beside a name: private: 10.20.1.10")
		}
		out.Hosts[i].Address = a.String()
	}
	for i, z := range out.Zones {
		if z.CIDR != "" {
			if p, err := netip.ParsePrefix(z.CIDR); err == nil && !p.Addr().IsLoopback() {
				continue
			}
		}
		// The examples' loopback ranges stand for "a range of its own": the
		// machines' /24 takes their place.
		var zone netip.Prefix
		for _, h := range out.Hosts {
			if h.Zone != z.Name {
				continue
			}
			p := netip.PrefixFrom(netip.MustParseAddr(h.Address), 24).Masked()
			if zone.IsValid() && zone != p {
				return out, nil, crmplan.Errorf(crmplan.EINVALID, "zone %s's machines are in %s and %s: give the zone its range", z.Name, zone, p).
					In("zones").Try("cidr: the range that holds zone %s's machines, in the plan's zone %s", z.Name, z.Name)
			}
			zone = p
		}
		if zone.IsValid() {
			out.Zones[i].CIDR = zone.String()
		}
	}
	return out, vpnLeft, nil
}

// sshRelayPublic is the address this machine dials the mesh relay at
// when the relay's machine has a private address besides it (an EC2
// instance in the DMZ: the nodes dial its private address, which only the
// VPC reaches); "" when it has one address.
func sshRelayPublic(t topology.Topology, inv *ssh.Inventory) (string, error) {
	if len(t.Hosts) == 0 {
		return "", nil
	}
	relay, err := mesh.RelayOf(t)
	if err != nil {
		return "", err
	}
	m := inv.Machines[relay.Name]
	if m.Private == "" || m.Private == m.Address {
		return "", nil
	}
	a, err := netip.ParseAddr(m.Address)
	if err != nil {
		return "", crmplan.Errorf(crmplan.EINVALID, "host %s is the mesh relay, which this machine dials at its address %q: it must be an IP address (the relay's certificate names it)", relay.Name, m.Address).
			In(inv.File + ": hosts." + relay.Name + ".address").Try("address: 203.0.113.10   # its public IP")
	}
	return a.String(), nil
}

// sshInventory is the inventory of r's stack when it is on the ssh
// target: the file --inventory names, else the one an earlier apply saved
// (a stack stays on its machines until it is destroyed).
func (r Request) sshInventory() (*ssh.Inventory, bool, error) {
	if r.Inventory != "" {
		if r.Isolate {
			return nil, false, crmplan.Errorf(crmplan.EINVALID, "--isolate is the local target's; the ssh target's machines exist already").
				In("--isolate").Try("crmplan apply --target ssh --inventory %s --plan PLAN.yaml", r.Inventory)
		}
		inv, err := ssh.LoadInventory(r.Inventory)
		return inv, err == nil, err
	}
	inv, ok, err := ssh.LoadSaved(r.paths().Machines())
	if err == nil && !ok && r.Target == ssh.Name {
		err = crmplan.Errorf(crmplan.EINVALID, "the ssh target needs an inventory of the machines").In("--inventory").
			Try("crmplan apply --target ssh --inventory machines.yaml --plan PLAN.yaml")
	}
	return inv, ok, err
}

// sshTargets are the provider's ssh targets, one per stack, made from the
// stack's saved inventory: each keeps its SSH connections open from one
// resource to the next.
type sshTargets struct {
	mu sync.Mutex
	by map[stackdir.Paths]*ssh.Target
}

// of is the ssh target of the stack in paths.
func (s *sshTargets) of(paths stackdir.Paths) (*ssh.Target, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.by[paths]; ok {
		return t, nil
	}
	t, err := mesh.SSHTarget(paths, "")
	if err != nil {
		return nil, err
	}
	if s.by == nil {
		s.by = map[stackdir.Paths]*ssh.Target{}
	}
	s.by[paths] = t
	return t, nil
}

// preflight logs in to every host's machine of an ssh layout, checking
// host keys, keys, vias and that no machine holds another stack, before
// anything is written on any of them.
func preflight(ctx context.Context, t *ssh.Target, l Layout) error {
	hosts := make([]target.Host, len(l.Hosts))
	for i, h := range l.Hosts {
		hosts[i] = target.Host{Name: h.Name, Zone: h.Zone, CIDR: h.CIDR, Address: h.Address, Dir: h.Dir}
	}
	return t.Preflight(ctx, hosts)
}

// machineChecks are apply's checks of an ssh layout's machines, made in
// the background: preflight, then drift, over SSH; or, on a stack already
// deployed onto the same machines, drift and packages through the mesh.
type machineChecks struct {
	done  chan struct{}
	err   error  // preflight's
	drift string // why Pulumi must refresh, "" when nothing drifted
	hosts int
	took  time.Duration
	// throughMesh: every host's agent answered, and no machine was logged
	// in to; meshErr is why the mesh could not tell, when SSH did.
	throughMesh bool
	meshErr     error
}

// checkMachines starts the checks of l's machines. When every host of l
// was deployed by an earlier apply onto the same machines (same is the
// saved inventory equal to this one), it asks the hosts' agents through
// the mesh, which is up: logins over SSH cost a key exchange per machine
// and hop, which a no-change apply pays for nothing. Otherwise, or when
// the mesh cannot tell (a node without a route, a unit that fails), it
// runs preflight and, when it passes, the SSH drift check of the deployed
// hosts.
func checkMachines(ctx context.Context, paths stackdir.Paths, t *ssh.Target, l Layout, deployed map[string]string, same bool) *machineChecks {
	c := &machineChecks{done: make(chan struct{}), hosts: len(l.Hosts)}
	go func() {
		defer close(c.done)
		start := time.Now()
		defer func() { c.took = time.Since(start) }()
		if same && allDeployed(l, deployed) {
			if c.drift, c.meshErr = meshDrift(ctx, paths, l); c.meshErr == nil {
				c.throughMesh = true
				return
			}
		}
		if c.err = preflight(ctx, t, l); c.err == nil {
			c.drift = l.sshDrift(t, deployed)
		}
	}()
	return c
}

// sameMachines says whether inv places every host where the stack's saved
// inventory does, logging in the same way.
func sameMachines(paths stackdir.Paths, inv *ssh.Inventory) bool {
	saved, ok, err := ssh.LoadSaved(paths.Machines())
	return err == nil && ok && maps.Equal(saved.Machines, inv.Machines) && saved.Key == inv.Key && saved.KnownHosts == inv.KnownHosts
}

func allDeployed(l Layout, deployed map[string]string) bool {
	for _, h := range l.Hosts {
		if _, ok := deployed[h.Name]; !ok {
			return false
		}
	}
	return len(l.Hosts) > 0
}

// meshDrift is sshDrift and checkPackages asked of the hosts' agents
// through the stack's mesh, all at once: a status unit on every host (a
// supervised program whose supervisor is gone, a database host without
// its server is drift) and, where the role runs from the machine's
// packages, a packages unit that installs nothing. A host the controller
// has no route to, or a unit that fails, is an error: the caller asks
// over SSH, which says which machine and what.
func meshDrift(ctx context.Context, paths stackdir.Paths, l Layout) (string, error) {
	m, err := mesh.Open(paths.StateDir, paths.Stack, targets())
	if err != nil {
		return "", err
	}
	routed, err := m.Reach(ctx, routeWait)
	if err != nil {
		return "", err
	}
	for _, h := range l.Hosts {
		if !routed[h.Name] {
			return "", fmt.Errorf("host %s: the controller has no route to its mesh node", h.Name)
		}
	}
	why := make([]string, len(l.Hosts))
	errs := make([]error, len(l.Hosts))
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		wg.Go(func() { why[i], errs[i] = hostDrift(ctx, m, h) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	for _, w := range why {
		if w != "" {
			return w, nil
		}
	}
	return "", nil
}

// hostDrift asks h's agent what sshDrift asks its machine, and checks
// its role's packages as checkPackages does, without installing any.
func hostDrift(ctx context.Context, m *mesh.Mesh, h LocalHost) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	var pkgErr error
	var wg sync.WaitGroup
	if pkgs := rolePackages(h.Role); len(pkgs) > 0 {
		wg.Go(func() {
			payload, err := json.Marshal(wire.PackagesOp{Packages: pkgs})
			if err == nil {
				_, err = m.Run(ctx, h.Name, mesh.Work{Type: wire.WorkPackages, Payload: bytes.NewReader(payload), Query: true})
			}
			if err != nil {
				pkgErr = fmt.Errorf("host %s: packages: %w", h.Name, err)
			}
		})
	}
	out, err := m.Run(ctx, h.Name, mesh.Work{Type: wire.WorkStatus, Query: true})
	wg.Wait()
	if err != nil {
		return "", fmt.Errorf("host %s: status: %w", h.Name, err)
	}
	if pkgErr != nil {
		return "", pkgErr
	}
	var st wire.Status
	if err := json.Unmarshal([]byte(out.Text), &st); err != nil {
		return "", fmt.Errorf("host %s: agent's status: %w", h.Name, err)
	}
	if (h.Role == topology.RoleDBPrimary || h.Role == topology.RoleDBReplica) && st.Postgres == nil {
		return "host " + h.Name + " has no PostgreSQL server", nil
	}
	for _, p := range st.Processes {
		if !p.Running {
			return "host " + h.Name + " " + p.Name + " is not running", nil
		}
	}
	return "", nil
}

// wait returns preflight's error once the checks are done.
func (c *machineChecks) wait() error {
	<-c.done
	return c.err
}

// String says what the checks took, for apply's output.
func (c *machineChecks) String() string {
	if c.throughMesh {
		return fmt.Sprintf("machines: %d asked through the mesh in %.1fs, no SSH login", c.hosts, c.took.Seconds())
	}
	s := fmt.Sprintf("machines: %d logged in to over SSH and checked in %.1fs", c.hosts, c.took.Seconds())
	if c.meshErr != nil {
		s += fmt.Sprintf(" (the mesh could not tell: %v)", c.meshErr)
	}
	return s
}

// Connections are what r's stack needs to pass between its hosts and from
// this machine: every link of the topology host to host, every node to
// the mesh relay and this machine to it, and this machine to the DMZ
// hosts' service ports. On the isolated target they are the router's
// policy; on machines of the ssh target, what their firewalls must allow.
func Connections(r Request) ([]netns.Rule, error) {
	l, err := r.layout()
	if err != nil {
		return nil, err
	}
	n, err := isolatedNetwork(l)
	return n.Policy, err
}

// sshDrift is drift on the ssh target, whose hosts' directories and
// processes are on their machines: every machine is asked at once. A
// machine that cannot be asked is drift too, for the refresh to report.
func (l Layout) sshDrift(t *ssh.Target, deployed map[string]string) string {
	ctx := context.Background()
	why := make([]string, len(l.Hosts))
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		if _, ok := deployed[h.Name]; !ok {
			continue
		}
		var dirs []string
		if h.Role.IsPostgres() {
			dirs = append(dirs, filepath.Join(PostgresDir(h.Dir), "data"))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reason, err := t.Drift(ctx, target.Host{Name: h.Name, Dir: h.Dir}, dirs)
			if err != nil {
				reason = err.Error()
			}
			if reason != "" {
				why[i] = "host " + h.Name + " " + reason
			}
		}()
	}
	wg.Wait()
	for _, w := range why {
		if w != "" {
			return w
		}
	}
	return ""
}

// closeTarget ends the connections of an ssh layout's target.
func (l Layout) closeTarget() {
	if t, ok := l.target.(*ssh.Target); ok {
		t.Close()
	}
}
