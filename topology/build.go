package topology

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// firstHost is the host number the first address of a zone gets: .1 to .9
// are left for gateways, resolvers and the like a real network puts there.
const firstHost = 10

// Build lays out the plan's hosts with the server counts of est, which must
// come from sizing.Size(p.Model()).
//
// Layout, kept stable because provision and the diagram key on it:
//   - hosts in plan tier order, named "<role>-<n>" with n from 1
//     (api-1, api-2, db-primary-1);
//   - a tier's hosts go round-robin over its zone and then its spread zones;
//   - every zone numbers its hosts from .10 of its range in that order;
//   - every host listens on DefaultPort(role);
//   - links: DefaultLinks of the roles that have hosts, then the plan's own
//     links (a missing port means the target's port), without duplicates.
func Build(p *Plan, est sizing.Estimate) (Topology, error) {
	if err := p.Validate(); err != nil {
		return Topology{}, err
	}
	servers := map[string]int{}
	for _, te := range est.Tiers {
		servers[te.Role] = te.Servers
	}
	t := Topology{Zones: append([]Zone(nil), p.Zones...)}
	alloc, err := newAllocator(p.Zones)
	if err != nil {
		return Topology{}, err
	}
	var roles []Role
	for i, tier := range p.Tiers {
		n, ok := servers[tier.Role]
		if !ok {
			return Topology{}, invalid(fmt.Sprintf("tiers[%d]", i), "crmplan size --plan FILE",
				"the estimate has no tier %q: it was made for another plan", tier.Role)
		}
		zones := append([]string{tier.Zone}, tier.Spread...)
		for k := range n {
			zone := zones[k%len(zones)]
			addr, err := alloc.next(zone)
			if err != nil {
				return Topology{}, err
			}
			role := Role(tier.Role)
			t.Hosts = append(t.Hosts, Host{Name: fmt.Sprintf("%s-%d", role, k+1), Role: role,
				Zone: zone, Address: addr.String(), Port: DefaultPort(role)})
		}
		if n > 0 {
			roles = append(roles, Role(tier.Role))
		}
	}
	if slices.Contains(roles, RoleMail) {
		// Seed 002: ARMAIL "can run 1 per machine": a relay beside every
		// role that mails, which hands on to the mail tier.
		for i, h := range t.Hosts {
			if h.Role.SendsMail() {
				t.Hosts[i].Sidecars = []Role{RoleMail}
			}
		}
	}
	t.Links = mergeLinks(DefaultLinks(roles), p.Links)
	if err := t.Validate(); err != nil {
		return Topology{}, err
	}
	return t, nil
}

// mergeLinks appends extra to base, filling default ports and dropping
// links already present.
func mergeLinks(base, extra []Link) []Link {
	out := append([]Link(nil), base...)
	have := map[Link]bool{}
	for _, l := range base {
		have[l] = true
	}
	for _, l := range extra {
		if l.Port == 0 {
			l.Port = DefaultPort(l.To)
		}
		if !have[l] {
			have[l] = true
			out = append(out, l)
		}
	}
	return out
}

// allocator hands out the next free address of each zone.
type allocator struct {
	prefix map[string]netip.Prefix
	index  map[string]int // zone's position in the plan, for error places
	free   map[string]netip.Addr
}

func newAllocator(zones []Zone) (*allocator, error) {
	a := &allocator{prefix: map[string]netip.Prefix{}, index: map[string]int{}, free: map[string]netip.Addr{}}
	for i, z := range zones {
		pf, err := checkCIDR(fmt.Sprintf("zones[%d].cidr", i), z.CIDR)
		if err != nil {
			return nil, err
		}
		a.prefix[z.Name], a.index[z.Name] = pf, i
		addr := pf.Addr()
		for range firstHost {
			addr = addr.Next()
		}
		a.free[z.Name] = addr
	}
	return a, nil
}

func (a *allocator) next(zone string) (netip.Addr, error) {
	pf, addr := a.prefix[zone], a.free[zone]
	// The range's last address is its broadcast address.
	if !pf.Contains(addr) || !pf.Contains(addr.Next()) {
		wider := netip.PrefixFrom(pf.Addr(), pf.Bits()-1).Masked()
		return netip.Addr{}, crmplan.Errorf(crmplan.EINVALID, "zone %q has no room left in %s for another host", zone, pf).
			In(fmt.Sprintf("zones[%d].cidr", a.index[zone])).Try("cidr: %s", wider)
	}
	a.free[zone] = addr.Next()
	return addr, nil
}
