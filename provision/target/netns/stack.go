package netns

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// routeProtocol marks the routes the target adds to this machine's
// namespace (`ip route` shows "proto 176"); each stack's carry its own
// metric as well, so that a stack finds its own and no other's.
const routeProtocol = netlink.RouteProtocol(176)

// stack names what one stack's hosts share: the router namespace, the
// uplink from this machine into it, and the routes for its zone ranges.
// Everything is named after a hash of the stack's hosts directory, unique
// on this machine, so that two stacks side by side never share a name.
type stack struct {
	id string // 8 hex digits
}

func stackOf(hostsDir string) (stack, error) {
	abs, err := filepath.Abs(hostsDir)
	if err != nil {
		return stack{}, err
	}
	sum := sha256.Sum256([]byte(filepath.Clean(abs)))
	return stack{id: hex.EncodeToString(sum[:4])}, nil
}

func (s stack) hash() uint32 {
	b, _ := hex.DecodeString(s.id)
	return binary.BigEndian.Uint32(b)
}

// router is the namespace where the stack's zones meet; a host's is
// crm-ID-HOST. Namespace names are file names (up to 255 bytes).
func (s stack) router() string { return "crm-" + s.id }

func (s stack) hostPrefix() string { return s.router() + "-" }

func (s stack) host(name string) string {
	if len(name) > 200 {
		return s.hostPrefix() + shortHash(name)
	}
	return s.hostPrefix() + name
}

// uplink is the veth end in this machine's namespace (crmID, 11 bytes);
// its peer in the router namespace is "up".
func (s stack) uplink() string { return "crm" + s.id }

const uplinkPeer = "up"

// uplinkAddrs are the two ends of the uplink: a /30 in 169.254.0.0/16
// (link-local: never routed off a link), picked by the stack's hash and
// skipping 169.254.169.0/24, where clouds keep their metadata service.
func (s stack) uplinkAddrs() (machine, router netip.Prefix) {
	h := s.hash()
	third := byte(1 + (h>>8)%254)
	if third == 169 {
		third = 170
	}
	block := byte(h&0x3f) * 4
	machine = netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, third, block + 1}), 30)
	router = netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, third, block + 2}), 30)
	return machine, router
}

// metric is the priority of the stack's routes in this machine's
// namespace: with routeProtocol it tells them from every other route.
func (s stack) metric() int { return int(s.hash()>>4) | 1 }

func (s stack) owns(r netlink.Route) bool {
	return r.Protocol == routeProtocol && r.Priority == s.metric() && r.Table == unix.RT_TABLE_MAIN
}

var ifnameChars = regexp.MustCompile(`^[a-z0-9-]+$`)

// ifname is prefix+name when that is a valid interface name (15 bytes at
// most), else prefix and a hash of name.
func ifname(prefix, name string) string {
	if len(prefix)+len(name) <= 15 && ifnameChars.MatchString(name) {
		return prefix + name
	}
	return prefix + shortHash(name)[:15-len(prefix)]
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// Interfaces in the router namespace: a bridge per zone, and the router's
// end of each host's veth, enslaved to its zone's bridge.
func bridgeName(zone string) string { return ifname("br-", zone) }
func portName(host string) string   { return ifname("h-", host) }

// gateway is the router's address on a zone's bridge: the range's first
// address, which crmplan's layout never gives a host.
func gateway(cidr netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(cidr.Masked().Addr().Next(), cidr.Bits())
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// handle opens a netlink handle in the named namespace; "" is this
// machine's own. The stack's methods take this machine's as h, a router's
// as rh and a host's as hh.
func handle(ns string) (*netlink.Handle, error) {
	if ns == "" {
		return netlink.NewHandle()
	}
	fd, err := vns.GetFromPath(nsPath(ns))
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer fd.Close()
	return netlink.NewHandleAt(fd)
}

// guard gives every zone range of the stack a route in this machine's
// namespace before anything else is made: unreachable until the router
// can take its traffic. Without it, a packet for a private address would
// leave through the machine's default route.
func (s stack) guard(h *netlink.Handle, zones []Zone) error {
	own, err := s.routes(h)
	if err != nil {
		return err
	}
	for _, z := range zones {
		if _, ok := own[z.CIDR.Masked()]; ok {
			continue
		}
		r := netlink.Route{Dst: ipnet(z.CIDR.Masked()), Type: unix.RTN_UNREACHABLE, Table: unix.RT_TABLE_MAIN,
			Protocol: routeProtocol, Priority: s.metric()}
		if err := h.RouteAdd(&r); err != nil {
			return fmt.Errorf("zone %s: unreachable route for %s: %w", z.Name, z.CIDR, err)
		}
	}
	return nil
}

// routes returns the stack's own routes in this machine's namespace.
func (s stack) routes(h *netlink.Handle) (map[netip.Prefix]netlink.Route, error) {
	all, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProtocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	own := map[netip.Prefix]netlink.Route{}
	for _, r := range all {
		if p, ok := prefixOf(r.Dst); ok && s.owns(r) {
			own[p] = r
		}
	}
	return own, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), ok
}

// routerSysctls make the router forward, filter bridged traffic too (so
// that hosts of one zone pass the policy like any other), drop packets
// whose source belongs to another interface, and speak no IPv6.
var routerSysctls = map[string]string{
	"net.ipv4.ip_forward":                 "0", // 1 once the policy is in place
	"net.ipv4.conf.all.rp_filter":         "1",
	"net.ipv4.conf.default.rp_filter":     "1",
	"net.ipv6.conf.all.disable_ipv6":      "1",
	"net.ipv6.conf.default.disable_ipv6":  "1",
	"net.bridge.bridge-nf-call-iptables":  "1",
	"net.bridge.bridge-nf-call-ip6tables": "1",
	"net.bridge.bridge-nf-call-arptables": "0",
}

// hostSysctls: a host speaks IPv4 only, so no IPv6 link-local traffic
// goes around the policy.
var hostSysctls = map[string]string{
	"net.ipv6.conf.all.disable_ipv6":     "1",
	"net.ipv6.conf.default.disable_ipv6": "1",
}

// makeRouter makes the router namespace and the uplink into it, writes
// the policy, and points the outside zones' routes into it. The router
// forwards only once its policy is in place. Nil rules leave a router's
// policy as it is (a new router's denies everything).
func (s stack) makeRouter(h *netlink.Handle, zones []Zone, rules []Rule) error {
	if err := createNamespace(s.router(), routerSysctls); err != nil {
		return err
	}
	if rules != nil || !s.hasPolicy() {
		if err := s.enforce(rules); err != nil {
			return err
		}
	}
	// Written on every create: a router changed by hand converges.
	forwarding := map[string]string{}
	for k, v := range routerSysctls {
		forwarding[k] = v
	}
	forwarding["net.ipv4.ip_forward"] = "1"
	if err := inNamespace(s.router(), func() error { return writeSysctls(forwarding) }); err != nil {
		return err
	}
	if err := s.makeUplink(h); err != nil {
		return err
	}
	return s.routeOutsideZones(h, zones)
}

func (s stack) makeUplink(h *netlink.Handle) error {
	rh, err := handle(s.router())
	if err != nil {
		return err
	}
	defer rh.Close()
	machine, router := s.uplinkAddrs()
	link, err := h.LinkByName(s.uplink())
	if err != nil {
		fd, err := vns.GetFromPath(nsPath(s.router()))
		if err != nil {
			return err
		}
		defer fd.Close()
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: s.uplink()}, PeerName: uplinkPeer, PeerNamespace: netlink.NsFd(fd)}
		if err := h.LinkAdd(v); err != nil {
			return fmt.Errorf("uplink %s: %w", s.uplink(), err)
		}
		if link, err = h.LinkByName(s.uplink()); err != nil {
			return err
		}
	}
	peer, err := rh.LinkByName(uplinkPeer)
	if err != nil {
		return fmt.Errorf("uplink %s has no peer in %s: %w", s.uplink(), s.router(), err)
	}
	if err := up(h, link, machine); err != nil {
		return fmt.Errorf("uplink %s: %w", s.uplink(), err)
	}
	if err := up(rh, peer, router); err != nil {
		return fmt.Errorf("uplink %s in %s: %w", uplinkPeer, s.router(), err)
	}
	return nil
}

// up gives link its address (when valid) and brings it up.
func up(h *netlink.Handle, link netlink.Link, addr netip.Prefix) error {
	if addr.IsValid() {
		if err := h.AddrReplace(link, &netlink.Addr{IPNet: ipnet(addr)}); err != nil {
			return err
		}
	}
	return h.LinkSetUp(link)
}

// routeOutsideZones replaces the unreachable routes of the zones this
// machine may reach with routes into the router, in one step each, so
// that no packet finds no route in between.
func (s stack) routeOutsideZones(h *netlink.Handle, zones []Zone) error {
	link, err := h.LinkByName(s.uplink())
	if err != nil {
		return err
	}
	_, router := s.uplinkAddrs()
	for _, z := range zones {
		if !z.Outside {
			continue
		}
		r := netlink.Route{Dst: ipnet(z.CIDR.Masked()), Gw: router.Addr().AsSlice(), LinkIndex: link.Attrs().Index,
			Table: unix.RT_TABLE_MAIN, Protocol: routeProtocol, Priority: s.metric()}
		if err := h.RouteReplace(&r); err != nil {
			return fmt.Errorf("zone %s: route for %s into %s: %w", z.Name, z.CIDR, s.router(), err)
		}
	}
	return nil
}

// makeZone makes the zone's bridge in the router, with the gateway
// address its hosts route through.
func (s stack) makeZone(z Zone) error {
	rh, err := handle(s.router())
	if err != nil {
		return err
	}
	defer rh.Close()
	name := bridgeName(z.Name)
	br, err := rh.LinkByName(name)
	if err != nil {
		if err := rh.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
			return fmt.Errorf("zone %s: bridge %s: %w", z.Name, name, err)
		}
		if br, err = rh.LinkByName(name); err != nil {
			return err
		}
	}
	if err := up(rh, br, gateway(z.CIDR)); err != nil {
		return fmt.Errorf("zone %s: bridge %s: %w", z.Name, name, err)
	}
	return nil
}

// makeHost makes the host's namespace and its veth into its zone's bridge,
// with its address and a default route through the router.
func (s stack) makeHost(host string, z Zone, addr netip.Addr) error {
	ns := s.host(host)
	if err := createNamespace(ns, hostSysctls); err != nil {
		return err
	}
	rh, err := handle(s.router())
	if err != nil {
		return err
	}
	defer rh.Close()
	hh, err := handle(ns)
	if err != nil {
		return err
	}
	defer hh.Close()
	port, err := s.makeVeth(rh, hh, host, ns)
	if err != nil {
		return err
	}
	br, err := rh.LinkByName(bridgeName(z.Name))
	if err != nil {
		return fmt.Errorf("zone %s: bridge: %w", z.Name, err)
	}
	if err := rh.LinkSetMaster(port, br); err != nil {
		return fmt.Errorf("host %s: %w", host, err)
	}
	if err := up(rh, port, netip.Prefix{}); err != nil {
		return fmt.Errorf("host %s: %w", host, err)
	}
	eth, err := hh.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("host %s: eth0: %w", host, err)
	}
	if err := up(hh, eth, netip.PrefixFrom(addr, z.CIDR.Bits())); err != nil {
		return fmt.Errorf("host %s: eth0: %w", host, err)
	}
	def := netlink.Route{Dst: ipnet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gateway(z.CIDR).Addr().AsSlice(), LinkIndex: eth.Attrs().Index}
	if err := hh.RouteReplace(&def); err != nil {
		return fmt.Errorf("host %s: default route: %w", host, err)
	}
	return nil
}

// makeVeth returns the router's end of the host's veth, made unless the
// pair is there. An end without its peer (the router or the host's
// namespace was made again while an old one lived on) is replaced.
func (s stack) makeVeth(rh, hh *netlink.Handle, host, ns string) (netlink.Link, error) {
	port, perr := rh.LinkByName(portName(host))
	eth, eerr := hh.LinkByName("eth0")
	if perr == nil && eerr == nil {
		return port, nil
	}
	if perr == nil {
		if err := rh.LinkDel(port); err != nil {
			return nil, fmt.Errorf("host %s: stale veth %s: %w", host, portName(host), err)
		}
	}
	if eerr == nil {
		if err := hh.LinkDel(eth); err != nil {
			return nil, fmt.Errorf("host %s: stale eth0: %w", host, err)
		}
	}
	fd, err := vns.GetFromPath(nsPath(ns))
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: portName(host)}, PeerName: "eth0", PeerNamespace: netlink.NsFd(fd)}
	if err := rh.LinkAdd(v); err != nil {
		return nil, fmt.Errorf("host %s: veth %s: %w", host, portName(host), err)
	}
	return rh.LinkByName(portName(host))
}

// removeHost removes the host's veth and namespace, and kills whatever
// still runs there.
func (s stack) removeHost(host string) error {
	if nsExists(s.router()) {
		rh, err := handle(s.router())
		if err != nil {
			return err
		}
		defer rh.Close()
		// Deleting one end of a veth deletes both, even while a process in
		// another mount namespace keeps the host's namespace alive.
		if port, err := rh.LinkByName(portName(host)); err == nil {
			if err := rh.LinkDel(port); err != nil {
				return fmt.Errorf("host %s: veth: %w", host, err)
			}
		}
	}
	return deleteNamespace(s.host(host))
}

// hosts lists the namespaces of the stack's hosts.
func (s stack) hosts() ([]string, error) { return namespaces(s.hostPrefix()) }

// teardown removes what the stack's hosts shared: the uplink, the router
// namespace with its bridges and nftables table, and last the routes in
// this machine's namespace. Until the router is gone every range of the
// stack keeps a route that takes no packet off the machine.
func (s stack) teardown(h *netlink.Handle) error {
	own, err := s.routes(h)
	if err != nil {
		return err
	}
	for p, r := range own {
		if r.Type == unix.RTN_UNREACHABLE {
			continue
		}
		u := netlink.Route{Dst: ipnet(p), Type: unix.RTN_UNREACHABLE, Table: unix.RT_TABLE_MAIN, Protocol: routeProtocol, Priority: s.metric()}
		if err := h.RouteReplace(&u); err != nil {
			return fmt.Errorf("route %s: %w", p, err)
		}
		own[p] = u
	}
	if link, err := h.LinkByName(s.uplink()); err == nil {
		if err := h.LinkDel(link); err != nil {
			return fmt.Errorf("uplink %s: %w", s.uplink(), err)
		}
	}
	if err := deleteNamespace(s.router()); err != nil {
		return err
	}
	var errs []error
	for p, r := range own {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("route %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
