package topology

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/crmplan/crmplan"
)

// policy checks one link against the network policy, given the zones the
// link's source role lives in. The rule that matters most: nothing in a DMZ
// may reach a data role directly, so that a compromised presentation host
// still has to pass the application tier's authentication. dmzDataLinks
// are the exceptions, each one pair of roles.
func policy(l Link, fromZones []Zone) *crmplan.Error {
	if !l.To.IsData() || dmzDataLinks[defaultLink{l.From, l.To}] {
		return nil
	}
	for _, z := range fromZones {
		if z.Kind == DMZ || z.Kind == Outside {
			return crmplan.Errorf(crmplan.EINVALID,
				"link %s -> %s:%d lets %s in the DMZ zone %q reach %s directly",
				l.From, l.To, l.Port, l.From, z.Name, l.To).
				Try("remove the link: DMZ hosts reach data through the application tier (%s -> %s:%d)",
					l.From, RoleAPI, DefaultPort(RoleAPI))
		}
	}
	return nil
}

// dmzDataLinks are the links from a DMZ role to a data role the policy
// allows, because a seed puts them there: seed 000's "marketing application
// server is hosted on DMZ which interacts with the Marketing Database
// deployed over the Local Area Network". The exception is this one pair,
// not a looser rule for the DMZ: the marketing database holds only
// campaigns and their recipients (copies of contacts their owner could
// read through the CRM's API anyway) under a role of its own, while the
// CRM's database, the cache and every other data role stay out of the
// DMZ's reach. Being a link, it is what the firewall (--isolate), pg_hba
// and the exports' security groups open, like every other link.
var dmzDataLinks = map[defaultLink]bool{
	{RoleMarketing, RoleMarketingDB}: true,
}

// DMZDataLink reports whether the policy lets role from, living in a DMZ,
// reach the data role to: only for the pairs of dmzDataLinks.
func DMZDataLink(from, to Role) bool { return dmzDataLinks[defaultLink{from, to}] }

func joinNames(names []string) string { return strings.Join(names, ", ") }

// checkZoneList checks zone names, kinds and ranges; the ranges must not
// overlap, because on the local target a zone's range is its loopback
// network and, with --isolate, its own namespace.
func checkZoneList(zones []Zone) *crmplan.Error {
	seen := map[string]bool{}
	prefixes := make([]netip.Prefix, len(zones))
	for i, z := range zones {
		at := fmt.Sprintf("zones[%d]", i)
		switch {
		case !namePattern.MatchString(z.Name):
			return invalid(at+".name", "name: lan", "%q is not a zone name: use lower-case letters, digits and dashes", z.Name)
		case seen[z.Name]:
			return invalid(at+".name", "give every zone its own name", "zone %q is defined twice", z.Name)
		case z.Kind != DMZ && z.Kind != LAN && z.Kind != Outside:
			return invalid(at+".kind", "kind: lan", "unknown zone kind %q: use dmz, lan or outside%s",
				z.Kind, didYouMean(string(z.Kind), []string{string(DMZ), string(LAN), string(Outside)}))
		}
		seen[z.Name] = true
		pf, err := checkCIDR(at+".cidr", z.CIDR)
		if err != nil {
			return err
		}
		prefixes[i] = pf
	}
	if i, j, ok := overlap(prefixes); ok {
		return invalid(fmt.Sprintf("zones[%d].cidr", i), "give each zone its own range, e.g. 127.10.3.0/24",
			"%s overlaps zone %q's %s", prefixes[i], zones[j].Name, prefixes[j])
	}
	return nil
}

// overlap finds two overlapping prefixes, i after j in the list: of all
// overlapping pairs the sweep meets, the one whose later prefix comes
// first. It sorts rather than compares every pair (20,000 zones took 8.9
// s): two prefixes are nested or apart, so in order of first address a
// prefix overlaps an earlier one exactly when it starts inside the one
// reaching furthest so far.
func overlap(prefixes []netip.Prefix) (i, j int, ok bool) {
	order := make([]int, len(prefixes))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int {
		pa, pb := prefixes[a], prefixes[b]
		if c := pa.Addr().Compare(pb.Addr()); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(pa.Bits(), pb.Bits()), cmp.Compare(a, b))
	})
	reach := -1 // the prefix whose range ends last among those swept
	for _, k := range order {
		if reach >= 0 && prefixes[reach].Overlaps(prefixes[k]) {
			later, earlier := max(k, reach), min(k, reach)
			if !ok || later < i {
				i, j, ok = later, earlier, true
			}
		}
		if reach < 0 || lastAddr(prefixes[k]).Compare(lastAddr(prefixes[reach])) > 0 {
			reach = k
		}
	}
	return i, j, ok
}

// lastAddr is the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// checkCIDR parses a zone range: IPv4, written as its network address,
// /8 to /28 (hosts are numbered from .10), and a range some target places
// hosts in: loopback (the local target) or private (the isolated one).
// Which of the two a plan may use is Plan.checkRanges' to say.
func checkCIDR(at, cidr string) (netip.Prefix, *crmplan.Error) {
	if cidr == "" {
		return netip.Prefix{}, invalid(at, "cidr: 127.10.2.0/24", "every zone needs an address range")
	}
	pf, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil || !pf.Addr().Is4():
		return pf, invalid(at, "cidr: 127.10.2.0/24", "%q is not an IPv4 range", cidr)
	case pf.Masked() != pf:
		return pf, invalid(at, "cidr: "+pf.Masked().String(), "%q is not a network address", cidr)
	case pf.Bits() > 28:
		return pf, invalid(at, "cidr: "+netip.PrefixFrom(pf.Addr(), 24).Masked().String(),
			"%s is too small: hosts are numbered from .10", cidr)
	case pf.Bits() < 8 || !(pf.Addr().IsLoopback() || pf.Addr().IsPrivate()):
		return pf, invalid(at, "cidr: 127.10.2.0/24",
			"%s is neither a loopback range (127.0.0.0/8) nor a private one (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", cidr)
	}
	return pf, nil
}

// Isolated is the address a host of the local target has on the isolated
// one (apply --isolate): 127.a.b.c becomes 10.a.b.c, so that every host
// has an address of its own network namespace; other addresses stay.
func Isolated(a netip.Addr) netip.Addr {
	if !a.Is4() || !a.IsLoopback() {
		return a
	}
	b := a.As4()
	b[0] = 10
	return netip.AddrFrom4(b)
}

// Validate checks a topology on its own, as provision receives it: zones,
// unique host names and addresses inside their zone's range, link ends that
// exist and listen on the link's port, and the network policy.
// Errors are *crmplan.Error with code EINVALID placed at "hosts[3]" or
// "links[2]".
func (t Topology) Validate() error {
	if err := checkZoneList(t.Zones); err != nil {
		return err
	}
	if err := t.checkHosts(); err != nil {
		return err
	}
	if err := t.checkLinks(); err != nil {
		return err
	}
	return nil // not checkLinks' typed nil, which would be a non-nil error
}

func (t Topology) checkHosts() *crmplan.Error {
	zones := map[string]netip.Prefix{}
	var names []string
	for _, z := range t.Zones {
		zones[z.Name], _ = netip.ParsePrefix(z.CIDR)
		names = append(names, z.Name)
	}
	byName, byAddr := map[string]bool{}, map[netip.Addr]string{}
	for i, h := range t.Hosts {
		at := fmt.Sprintf("hosts[%d]", i)
		pf, zoneOK := zones[h.Zone]
		switch {
		case !namePattern.MatchString(h.Name):
			return invalid(at+".name", "name: api-1", "%q is not a host name", h.Name)
		case byName[h.Name]:
			return invalid(at+".name", "give every host its own name", "host %q is defined twice", h.Name)
		case !h.Role.Known():
			return invalid(at+".role", "use one of: "+joinNames(roleNames()), "host %s has unknown role %q%s",
				h.Name, h.Role, didYouMean(string(h.Role), roleNames()))
		case !zoneOK:
			return invalid(at+".zone", "use one of: "+joinNames(names), "host %s is in unknown zone %q", h.Name, h.Zone)
		case h.Port < 0 || h.Port > 65535:
			return invalid(at+".port", fmt.Sprintf("port: %d", DefaultPort(h.Role)), "port %d is out of range", h.Port)
		}
		byName[h.Name] = true
		if h.Address == "" {
			continue
		}
		addr, err := netip.ParseAddr(h.Address)
		if err != nil || !pf.Contains(addr) {
			return invalid(at+".address", "pick an address in "+pf.String(),
				"host %s's address %q is not in zone %s (%s)", h.Name, h.Address, h.Zone, pf)
		}
		if other, dup := byAddr[addr]; dup {
			return invalid(at+".address", "give every host its own address", "host %s has %s, like %s", h.Name, addr, other)
		}
		byAddr[addr] = h.Name
	}
	return nil
}

func (t Topology) checkLinks() *crmplan.Error {
	zoneOf := map[string]Zone{}
	for _, z := range t.Zones {
		zoneOf[z.Name] = z
	}
	for i, l := range t.Links {
		at := fmt.Sprintf("links[%d]", i)
		from, to := t.HostsByRole(l.From), t.HostsByRole(l.To)
		switch {
		case len(from) == 0:
			return invalid(at+".from", "remove the link or add "+string(l.From)+" hosts", "no host has role %q", l.From)
		case len(to) == 0:
			return invalid(at+".to", "remove the link or add "+string(l.To)+" hosts", "no host has role %q", l.To)
		case !listens(to, l.Port):
			return invalid(at+".port", fmt.Sprintf("port: %d", to[0].Port), "no %s host listens on %d", l.To, l.Port)
		}
		var zones []Zone
		for _, h := range from {
			zones = append(zones, zoneOf[h.Zone])
		}
		if err := policy(l, zones); err != nil {
			return err.In(at)
		}
	}
	return nil
}

func listens(hosts []Host, port int) bool {
	for _, h := range hosts {
		if h.Port == port {
			return true
		}
	}
	return false
}

// Allows reports whether the topology lets hosts of role from open
// connections to hosts of role to on port. Anything no link allows is
// denied.
func (t Topology) Allows(from, to Role, port int) bool {
	for _, l := range t.Links {
		if l.From == from && l.To == to && l.Port == port {
			return true
		}
	}
	return false
}

// HostsByRole returns the hosts of role r in topology order.
func (t Topology) HostsByRole(r Role) []Host {
	var out []Host
	for _, h := range t.Hosts {
		if h.Role == r {
			out = append(out, h)
		}
	}
	return out
}

// Without is t without the hosts of role r (its zones and links kept):
// what a target that cannot run r deploys, e.g. every target but the
// isolated one leaves the vpn role out.
func (t Topology) Without(r Role) Topology {
	out := t
	out.Hosts = nil
	for _, h := range t.Hosts {
		if h.Role != r {
			out.Hosts = append(out.Hosts, h)
		}
	}
	return out
}
