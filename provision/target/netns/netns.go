// Package netns is the isolated target (`crmplan apply --isolate`): every
// host of a stack is a Linux network namespace of this machine, with an
// address in its zone's range, and the stack's network policy is enforced
// between them.
//
// Each host's namespace (crm-ID-HOST, where ID is a hash of the stack's
// hosts directory, so two stacks never share a name) has one interface,
// eth0, a veth whose other end is a port of its zone's bridge. The bridges
// live in the stack's router namespace (crm-ID), where the zones meet: its
// nftables forward chain (table inet crmplan) drops everything except the
// Policy's rules and the replies to them, and it filters traffic between
// hosts of one zone too (bridged IPv4 passes the same chain). The router
// has no default route, so nothing a host sends can leave the machine.
//
// This machine's own namespace (where the user, the browser, k6 and the
// mesh's controller run) gets a route for every zone range of the stack
// before anything else is made: into the router, through a veth uplink
// (crmID, 169.254.x.y/30), for the zones marked Outside (the DMZ), and
// `unreachable` for the rest. A packet for a stack address therefore never
// leaves through the machine's default route. Destroy of a stack's last
// host removes the router, the uplink and those routes.
//
// A host's Receptor node runs inside its namespace (`nsenter --net=…
// receptor`), so everything the node's work starts (agent, supervisor,
// roles) is there too.
//
// Libraries, not tools: github.com/vishvananda/netlink and netns make the
// namespaces, veths, bridges, addresses and routes, and github.com/google/
// nftables writes the policy, all through the kernel's netlink API. They
// need no package a fresh machine may lack (minimal Debian images, this
// machine's included, have no nft command), report errors as errnos
// (EEXIST, ENOENT) rather than text to parse, and send a whole nftables
// table in one atomic batch; netlink was in the module graph already. The only command run is util-linux's
// nsenter, which every Debian has (it is Essential), to start the nodes.
//
// It needs root on Linux, network namespaces, veth, bridges, bridge
// netfilter and nftables; CheckRange and Create say which is missing.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
)

// Name is the target's name in flags and plans.
const Name = "netns"

// Zone is a zone of the stack as the target needs it.
type Zone struct {
	Name string
	CIDR netip.Prefix
	// Outside zones (the DMZ) are reachable from this machine's own
	// namespace, on the ports the Policy allows; the others are not at all.
	Outside bool
}

// Target makes isolated hosts.
type Target struct {
	// Stack is the directory that holds the stack's host directories
	// (stackdir.Paths.HostsDir): every host's Dir is in it, and its path
	// tells this stack's namespaces, routes and router from another's.
	// CheckRange needs it to tell the stack's own routes from the
	// machine's; the other methods find it from the host's Dir.
	Stack string
	// Zones are the stack's zones. Every range gets its route in this
	// machine's namespace before any host is made; a host's zone that is
	// not listed is not Outside.
	Zones []Zone
	// Policy is what may cross the router. Create writes it; Enforce
	// writes it to a stack whose hosts exist. A nil Policy leaves the
	// router's as it is (a new router denies everything); an empty one
	// denies everything.
	Policy []Rule
	// Reap, when set, stops whatever still runs from a host's directory
	// before it is removed (as the loopback target's). What then still
	// runs in the host's namespace is killed.
	Reap func(dir string) error
}

var _ target.Target = Target{}
var _ target.HardwareTarget = Target{}

// Hardware is this machine: network namespaces isolate the hosts' networks,
// not their CPUs, which they share with each other and the load generator.
func (Target) Hardware() target.Hardware {
	return target.Hardware{SharedCores: runtime.NumCPU(), Busy: target.MachineBusy}
}

func (Target) Name() string { return Name }

// CheckRange accepts a private IPv4 range (10/8, 172.16/12, 192.168/16)
// that no route of this machine overlaps but the stack's own: the stack's
// routes would take that traffic away from where it goes now. A route that
// covers the whole range and only discards (unreachable, blackhole,
// prohibit) is no collision.
func (t Target) CheckRange(zone string, cidr netip.Prefix) error {
	if t.Stack == "" {
		return checkRange(zone, cidr, nil)
	}
	s, err := stackOf(t.Stack)
	if err != nil {
		return err
	}
	return checkRange(zone, cidr, &s)
}

// checkRange is CheckRange for stack s; nil is a stack whose routes are
// not known, all of whose routes are the machine's.
func checkRange(zone string, cidr netip.Prefix, s *stack) error {
	cidr = cidr.Masked()
	if !cidr.Addr().Is4() || !cidr.Addr().IsPrivate() || cidr.Bits() < 8 || cidr.Bits() > 30 {
		return crmplan.Errorf(crmplan.EINVALID, "zone %s: range %s is not a private IPv4 range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, /8 to /30)", zone, cidr).
			In("zones").Try("cidr: 10.10.1.0/24")
	}
	if err := capable(); err != nil {
		return err
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	all, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range all {
		p, ok := prefixOf(r.Dst)
		if !ok || p.Bits() == 0 || !p.Overlaps(cidr) || (s != nil && s.owns(r)) {
			continue
		}
		if p.Bits() < cidr.Bits() && discards(r.Type) {
			continue
		}
		return crmplan.Errorf(crmplan.EINVALID, "zone %s: range %s collides with this machine's route %s (`ip route show table all`)", zone, cidr, routeString(r)).
			In("zones").Try("a range no route of this machine overlaps, e.g. cidr: 10.10.1.0/24")
	}
	return nil
}

func discards(typ int) bool {
	return typ == unix.RTN_UNREACHABLE || typ == unix.RTN_BLACKHOLE || typ == unix.RTN_PROHIBIT
}

func routeString(r netlink.Route) string {
	s := r.Dst.String()
	if r.Gw != nil {
		s += " via " + r.Gw.String()
	}
	if r.Table != unix.RT_TABLE_MAIN {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	return s
}

// resolve checks h and returns its stack, zone and address.
func (t Target) resolve(h target.Host) (stack, Zone, netip.Addr, error) {
	cidr, err := netip.ParsePrefix(h.CIDR)
	if err != nil {
		return stack{}, Zone{}, netip.Addr{}, crmplan.Errorf(crmplan.EINVALID, "zone %s: range %q: %w", h.Zone, h.CIDR, err).In("host " + h.Name)
	}
	z := Zone{Name: h.Zone, CIDR: cidr.Masked()}
	for _, known := range t.Zones {
		if known.Name == h.Zone {
			z.Outside = known.Outside
		}
	}
	addr, err := netip.ParseAddr(h.Address)
	if err != nil || !z.CIDR.Contains(addr) || addr == gateway(z.CIDR).Addr() || addr == z.CIDR.Addr() {
		return stack{}, z, addr, crmplan.Errorf(crmplan.EINVALID, "address %q is not a host address in zone %s's range %s (its first address is the router's)", h.Address, h.Zone, h.CIDR).
			In("host " + h.Name)
	}
	s, err := t.stackOf(h)
	return s, z, addr, err
}

func (t Target) stackOf(h target.Host) (stack, error) {
	if h.Dir == "" {
		return stack{}, crmplan.Errorf(crmplan.EINVALID, "host %s has no directory", h.Name).In("host " + h.Name)
	}
	dir := filepath.Dir(filepath.Clean(h.Dir))
	if t.Stack != "" && filepath.Clean(t.Stack) != dir {
		return stack{}, crmplan.Errorf(crmplan.EINTERNAL, "host %s's directory %s is not in the stack's %s", h.Name, h.Dir, t.Stack).In("host " + h.Name)
	}
	return stackOf(dir)
}

// zones are the stack's zones and h's, which may not be listed.
func (t Target) zones(z Zone) []Zone {
	out := []Zone{z}
	for _, known := range t.Zones {
		if known.Name != z.Name {
			out = append(out, Zone{Name: known.Name, CIDR: known.CIDR.Masked(), Outside: known.Outside})
		}
	}
	return out
}

// Create makes the host's namespace, and the stack's router, uplink,
// routes and zone bridge when it is the first of them, and writes the
// policy. The routes for the stack's ranges come first.
func (t Target) Create(ctx context.Context, h target.Host) error {
	s, z, addr, err := t.resolve(h)
	if err != nil {
		return err
	}
	if err := checkRange(z.Name, z.CIDR, &s); err != nil {
		return err
	}
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := handle("")
	if err != nil {
		return err
	}
	defer m.Close()
	zones := t.zones(z)
	if err := s.guard(m, zones); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := s.makeRouter(m, zones, t.Policy); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := s.makeZone(z); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := s.makeHost(h.Name, z, addr); err != nil {
		return err
	}
	// 0755: PostgreSQL, running as its own user when crmplan is root, must
	// pass through to its data directory below.
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

// Enforce writes the Policy to the router of the stack whose hosts are in
// Stack, when it has one: for a change of links that changes no host.
func (t Target) Enforce(ctx context.Context) error {
	return t.locked("Enforce", func(s stack) error {
		if !nsExists(s.router()) {
			return nil
		}
		return s.enforce(t.Policy)
	})
}

// locked runs fn for the stack whose hosts are in Stack, holding the lock.
func (t Target) locked(method string, fn func(stack) error) error {
	if t.Stack == "" {
		return crmplan.Errorf(crmplan.EINTERNAL, "netns target: %s needs the stack's directory", method)
	}
	s, err := stackOf(t.Stack)
	if err != nil {
		return err
	}
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	return fn(s)
}

// Exists reports whether the host's namespace and directory are there.
// After a reboot the directory is, but the namespace (under /run) is not:
// the host must be made again.
func (t Target) Exists(ctx context.Context, h target.Host) (bool, error) {
	s, err := t.stackOf(h)
	if err != nil {
		return false, err
	}
	if !nsExists(s.host(h.Name)) {
		return false, nil
	}
	_, err = os.Stat(h.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Destroy stops the host's Receptor node, reaps what runs from its
// directory, kills what still runs in its namespace, and removes the
// namespace, its veth and its directory; with the stack's last host it
// removes the router, the uplink and the stack's routes too.
func (t Target) Destroy(ctx context.Context, h target.Host) error {
	s, err := t.stackOf(h)
	if err != nil {
		return err
	}
	if _, err := os.Stat(h.Dir); err == nil {
		if err := t.Nodes(h).Stop(node(h)); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
		if t.Reap != nil {
			if err := t.Reap(h.Dir); err != nil {
				return fmt.Errorf("host %s: %w", h.Name, err)
			}
		}
	}
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.removeHost(h.Name); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := os.RemoveAll(h.Dir); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	left, err := s.hosts()
	if err != nil || len(left) > 0 {
		return err
	}
	m, err := handle("")
	if err != nil {
		return err
	}
	defer m.Close()
	if err := s.teardown(m); err != nil {
		return fmt.Errorf("stack of host %s: %w", h.Name, err)
	}
	return nil
}

// DestroyStack removes every host namespace of the stack whose hosts are
// in Stack, whatever runs in them, and its router, uplink and routes: what
// an apply killed between making a host and recording it would otherwise
// leave, since no Destroy of a recorded host knows of it. Hosts'
// directories stay (they are the state dir's). A stack that is gone is no
// error.
func (t Target) DestroyStack(ctx context.Context) error {
	return t.locked("DestroyStack", func(s stack) error {
		hosts, err := s.hosts()
		if err != nil {
			return err
		}
		for _, ns := range hosts {
			// The namespace's name is the host's, unless it was too long.
			if err := s.removeHost(strings.TrimPrefix(ns, s.hostPrefix())); err != nil {
				return err
			}
			if err := deleteNamespace(ns); err != nil {
				return err
			}
		}
		m, err := handle("")
		if err != nil {
			return err
		}
		defer m.Close()
		return s.teardown(m)
	})
}

// node is the host's Receptor node as the mesh lays it out (HOSTDIR/mesh).
func node(h target.Host) target.Node {
	return target.Node{ID: h.Name, Dir: target.NodeDir(h.Dir)}
}

// Namespace is the name of the host's network namespace, for status and
// for `ip netns exec NAME …`.
func (t Target) Namespace(h target.Host) (string, error) {
	s, err := t.stackOf(h)
	if err != nil {
		return "", err
	}
	return s.host(h.Name), nil
}

// Nodes runs a host's node inside its namespace: the process is one of
// this machine's, entered into the namespace before it execs receptor, so
// that it and everything it starts live there.
func (t Target) Nodes(h target.Host) target.NodeLauncher {
	ns, err := t.Namespace(h)
	if err != nil {
		return failing{err}
	}
	return target.Processes{Prefix: []string{"nsenter", "--net=" + nsPath(ns), "--"}}
}

// failing is the launcher of a host the target cannot place: every
// start says why.
type failing struct{ err error }

func (f failing) Start(context.Context, target.Node) error { return f.err }
func (failing) Running(target.Node) (int, bool)            { return 0, false }
func (failing) Stop(target.Node) error                     { return nil }
func (failing) Kill(target.Node) error                     { return nil }
