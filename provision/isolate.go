package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ec2"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// An isolated stack (crmplan apply --isolate) is made by the netns target:
// every host a network namespace, every zone a bridge, the zones joined by
// a router whose nftables policy allows the topology's links and the
// mesh's connections only. The provider runs in its own process, so apply
// writes the stack's zones and policy to stackdir.Paths.Network, and the
// provider's netns target reads them from there when it makes a host.

// network is what the netns target needs of a stack beyond its hosts.
type network struct {
	Zones  []netns.Zone `json:"zones"`
	Policy []netns.Rule `json:"policy"`
}

// isolatedTopology moves the zones of t that are on loopback (the
// examples' 127.10.N.0/24, the default) to the same place in 10.0.0.0/8
// (10.10.N.0/24), hosts' addresses with them: an isolated host's address
// is its own interface's, and loopback addresses never leave a namespace.
// A zone with a range of its own elsewhere keeps it; the target checks it.
func isolatedTopology(t topology.Topology) topology.Topology {
	out := t
	out.Zones = append([]topology.Zone(nil), t.Zones...)
	out.Hosts = append([]topology.Host(nil), t.Hosts...)
	for i, z := range out.Zones {
		if p, err := netip.ParsePrefix(z.CIDR); err == nil && p.Addr().IsLoopback() {
			out.Zones[i].CIDR = netip.PrefixFrom(topology.Isolated(p.Addr()), p.Bits()).String()
		}
	}
	for i, h := range out.Hosts {
		if a, err := netip.ParseAddr(h.Address); err == nil && a.IsLoopback() {
			out.Hosts[i].Address = topology.Isolated(a).String()
		}
	}
	return out
}

// isolatedNetwork is the netns target's view of layout l: its zones (DMZ
// zones are Outside: this machine reaches them) and the policy, host to
// host: every link of the topology from each host of its From role to each
// host of its To role; every host's mesh node to the relay, and this
// machine (the mesh's controller) to the relay; this machine to every DMZ
// host's service port (the browser and k6 come in there).
func isolatedNetwork(l Layout) (network, error) {
	var n network
	outside := map[string]bool{}
	for _, h := range l.Hosts {
		outside[h.Zone] = false
	}
	for _, z := range l.Zones {
		outside[z.Name] = z.Kind == topology.DMZ || z.Kind == topology.Outside
		for _, h := range l.Hosts {
			if h.Zone == z.Name {
				n.Zones = append(n.Zones, netns.Zone{Name: z.Name, CIDR: netip.MustParsePrefix(h.CIDR), Outside: outside[z.Name]})
				break
			}
		}
	}
	seen := map[netns.Rule]bool{}
	add := func(from netip.Prefix, to string, port int) error {
		a, err := netip.ParseAddr(to)
		if err != nil || port <= 0 || port > 65535 {
			return crmplan.Errorf(crmplan.EINTERNAL, "policy: host address %q or port %d", to, port)
		}
		r := netns.Rule{From: from, To: a, Port: uint16(port)}
		if !seen[r] {
			seen[r] = true
			n.Policy = append(n.Policy, r)
		}
		return nil
	}
	host := func(h LocalHost) netip.Prefix { return netip.PrefixFrom(netip.MustParseAddr(h.Address), 32) }
	var errs []error
	for _, link := range l.Links {
		for _, from := range l.ByRole(link.From) {
			for _, to := range l.ByRole(link.To) {
				if from.Name != to.Name {
					errs = append(errs, add(host(from), to.Address, link.Port))
				}
			}
		}
	}
	topo := topology.Topology{Zones: l.Zones}
	for _, h := range l.Hosts {
		topo.Hosts = append(topo.Hosts, h.Host)
	}
	if len(topo.Hosts) > 0 {
		relay, err := mesh.RelayOf(topo)
		if err != nil {
			return n, err
		}
		errs = append(errs, add(netip.Prefix{}, relay.Address, mesh.DefaultPort))
		for _, h := range l.Hosts {
			if h.Name != relay.Name {
				errs = append(errs, add(host(h), relay.Address, mesh.DefaultPort))
			}
		}
	}
	errs = append(errs, l.leaseRules(func(from LocalHost, to string, port int) error { return add(host(from), to, port) }))
	for _, h := range l.Hosts {
		if outside[h.Zone] && h.Port > 0 {
			errs = append(errs, add(netip.Prefix{}, h.Address, h.Port))
		}
	}
	for _, h := range l.ByRole(topology.RoleVPN) {
		// Remote users' WireGuard comes in from outside, as users do. What
		// their tunnels reach is the vpn role's links above, and the
		// endpoint's own firewall.
		a := netip.MustParseAddr(h.Address)
		if r := (netns.Rule{To: a, Port: uint16(h.Port), Proto: "udp"}); !seen[r] {
			seen[r] = true
			n.Policy = append(n.Policy, r)
		}
	}
	return n, errors.Join(errs...)
}

// outside says whether zone is a DMZ or outside the DMZ (load
// generators), which this machine reaches on an isolated stack.
func (l Layout) outside(zone string) bool {
	for _, z := range l.Zones {
		if z.Name == zone {
			return z.Kind == topology.DMZ || z.Kind == topology.Outside
		}
	}
	return false
}

// allowCIDRs are the ranges whose hosts may connect to PostgreSQL on a
// database host of l: loopback (the host itself), and the ranges of the
// zones with a host that a link lets reach a database role, or that holds
// a database (a replica streams from the primary). On loopback zones it is
// pgserver's default.
func allowCIDRs(l Layout) []string {
	return allowCIDRsTo(l, topology.RoleDBPrimary, topology.RoleDBReplica)
}

// allowCIDRsTo is allowCIDRs for the servers of the given database roles:
// their own hosts' ranges (replication) and those of every role a link
// lets reach them.
func allowCIDRsTo(l Layout, roles ...topology.Role) []string {
	if l.Target != netns.Name && l.Target != ssh.Name && l.Target != ec2.Name {
		return nil
	}
	set := map[string]bool{"127.0.0.0/8": true}
	for _, h := range l.Hosts {
		if slices.Contains(roles, h.Role) {
			set[h.CIDR] = true
		}
	}
	for _, link := range l.Links {
		if !slices.Contains(roles, link.To) {
			continue
		}
		for _, h := range l.ByRole(link.From) {
			set[h.CIDR] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func saveNetwork(paths stackdir.Paths, n network) error {
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(paths.StackDir(), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(paths.Network(), b, 0o600)
}

// loadNetwork reads what saveNetwork wrote; ok is false for a stack that
// is not isolated.
func loadNetwork(paths stackdir.Paths) (network, bool, error) {
	var n network
	b, err := os.ReadFile(paths.Network())
	if errors.Is(err, fs.ErrNotExist) {
		return n, false, nil
	}
	if err != nil {
		return n, false, err
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return n, false, crmplan.Errorf(crmplan.EINTERNAL, "%s is damaged: %w", paths.Network(), err).Try("crmplan apply --isolate --plan PLAN.yaml")
	}
	return n, true, nil
}

// isolated is the provider's netns target: the stack's zones and policy
// come from its network file, found from the host's directory
// (STACKDIR/hosts/HOST).
type isolated struct{}

var _ target.Target = isolated{}

// Hardware is the netns target's: this machine's cores, shared.
func (isolated) Hardware() target.Hardware { return netns.Target{}.Hardware() }

// stackTarget is the netns target of the stack whose hosts are in hostsDir.
func stackTarget(hostsDir string) (netns.Target, error) {
	t := netns.Target{Stack: hostsDir, Reap: stopAll}
	n, ok, err := loadNetwork(stackdir.Paths{StateDir: filepath.Dir(filepath.Dir(hostsDir)), Stack: filepath.Base(filepath.Dir(hostsDir))})
	if err != nil {
		return t, err
	}
	if !ok {
		return t, crmplan.Errorf(crmplan.EINTERNAL, "isolated stack in %s has no network file", filepath.Dir(hostsDir)).Try("crmplan apply --isolate --plan PLAN.yaml")
	}
	t.Zones, t.Policy = n.Zones, n.Policy
	return t, nil
}

func (isolated) of(h target.Host) (netns.Target, error) {
	return stackTarget(filepath.Dir(filepath.Clean(h.Dir)))
}

func (isolated) Name() string { return netns.Name }

func (isolated) CheckRange(zone string, cidr netip.Prefix) error {
	return netns.Target{}.CheckRange(zone, cidr)
}

func (i isolated) Create(ctx context.Context, h target.Host) error {
	t, err := i.of(h)
	if err != nil {
		return err
	}
	return t.Create(ctx, h)
}

func (isolated) Exists(ctx context.Context, h target.Host) (bool, error) {
	return netns.Target{}.Exists(ctx, h)
}

func (isolated) Destroy(ctx context.Context, h target.Host) error {
	return netns.Target{Reap: stopAll}.Destroy(ctx, h)
}

func (isolated) Nodes(h target.Host) target.NodeLauncher { return netns.Target{}.Nodes(h) }

// enforceNetwork writes an isolated stack's policy to its router after an
// apply: a change of links changes no host, and so no Create writes it.
func enforceNetwork(ctx context.Context, paths stackdir.Paths) error {
	if _, ok, err := loadNetwork(paths); err != nil || !ok {
		return err
	}
	t, err := stackTarget(paths.HostsDir())
	if err != nil {
		return err
	}
	if err := t.Enforce(ctx); err != nil {
		return fmt.Errorf("isolated stack %s: %w", paths.Stack, err)
	}
	return nil
}

// destroyNetwork removes whatever of an isolated stack's namespaces,
// router, uplink and routes is left after Pulumi's destroy.
func destroyNetwork(ctx context.Context, paths stackdir.Paths) error {
	if _, ok, err := loadNetwork(paths); err != nil || !ok {
		return err
	}
	return netns.Target{Stack: paths.HostsDir(), Reap: stopAll}.DestroyStack(ctx)
}

// HostNamespace is the network namespace of an isolated stack's host
// (for status and `ip netns exec`), "" on other targets.
func HostNamespace(targetName, hostDir string) string {
	if targetName != netns.Name || hostDir == "" {
		return ""
	}
	ns, err := netns.Target{}.Namespace(target.Host{Name: filepath.Base(hostDir), Dir: hostDir})
	if err != nil {
		return ""
	}
	return ns
}
