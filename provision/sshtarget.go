package provision

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
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

// sshTopology gives every host of t its machine's address, and checks
// that each is in its zone's range; a zone with no range gets the
// smallest common /24 of its machines when they share one.
func sshTopology(t topology.Topology, inv *ssh.Inventory) (topology.Topology, error) {
	out := t
	out.Zones = append([]topology.Zone(nil), t.Zones...)
	out.Hosts = append([]topology.Host(nil), t.Hosts...)
	names := make([]string, len(t.Hosts))
	for i, h := range t.Hosts {
		names[i] = h.Name
	}
	if err := inv.Check(names); err != nil {
		return out, err
	}
	for i, h := range out.Hosts {
		m := inv.Machines[h.Name]
		a, err := netip.ParseAddr(m.Address)
		if err != nil {
			return out, crmplan.Errorf(crmplan.EINVALID, "host %s's machine has address %q: the ssh target needs an IP address (the stack's policy and the mesh's certificates are by address)", h.Name, m.Address).
				In(inv.File + ": hosts." + h.Name + ".address").Try("address: 10.20.1.10")
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
				return out, crmplan.Errorf(crmplan.EINVALID, "zone %s's machines are in %s and %s: give the zone its range", z.Name, zone, p).
					In("zones").Try("cidr: the range that holds zone %s's machines, in the plan's zone %s", z.Name, z.Name)
			}
			zone = p
		}
		if zone.IsValid() {
			out.Zones[i].CIDR = zone.String()
		}
	}
	return out, nil
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
// the background: preflight, then drift.
type machineChecks struct {
	done  chan struct{}
	err   error  // preflight's
	drift string // why Pulumi must refresh, "" when nothing drifted
	hosts int
	took  time.Duration
}

// checkMachines starts preflight and, when it passes, the drift check of
// the deployed hosts.
func checkMachines(ctx context.Context, t *ssh.Target, l Layout, deployed map[string]string) *machineChecks {
	c := &machineChecks{done: make(chan struct{}), hosts: len(l.Hosts)}
	go func() {
		defer close(c.done)
		start := time.Now()
		if c.err = preflight(ctx, t, l); c.err == nil {
			c.drift = l.sshDrift(t, deployed)
		}
		c.took = time.Since(start)
	}()
	return c
}

// wait returns preflight's error once the checks are done.
func (c *machineChecks) wait() error {
	<-c.done
	return c.err
}

// String says what the checks took, for apply's output.
func (c *machineChecks) String() string {
	return fmt.Sprintf("machines: %d logged in to over SSH and checked in %.1fs", c.hosts, c.took.Seconds())
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
		if h.Role == topology.RoleDBPrimary || h.Role == topology.RoleDBReplica {
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
