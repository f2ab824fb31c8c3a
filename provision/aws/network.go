// Package aws provisions a plan's hosts on AWS with a Pulumi program written
// with the pulumi-aws Go SDK: a VPC, per zone a subnet in each of two
// availability zones (the DMZ's public behind an internet gateway, the
// LANs' private with egress through a NAT gateway), security groups whose
// ingress rules are exactly the topology's links plus the mesh's
// connections, and an EC2 instance per host whose cloud-init installs and
// starts the host's Receptor node. Everything after that goes through the
// mesh as on every other target: one deployment path.
//
// Lay turns a laid plan into a Network, the pure description the program
// creates (and that tests compare with the Terraform export); Program is
// the Pulumi program. Nothing here reaches AWS by itself: the program runs
// under the Automation API with the aws provider plugin, or offline under
// pulumi.WithMocks in the tests.
package aws

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/topology"
)

// DefaultVPCCIDR is the VPC's range when the options name none; the
// Terraform export's default too, so that both describe the same network.
const DefaultVPCCIDR = "10.40.0.0/16"

// Internet is the source of a rule open to everyone.
const Internet = "0.0.0.0/0"

// Options are what the program needs beyond the plan.
type Options struct {
	Region string // e.g. eu-west-1
	// AZs are the two availability zones HA tiers spread over; default the
	// region's "a" and "b".
	AZs     [2]string
	VPCCIDR string // a /16; default DefaultVPCCIDR
	AMI     string // a Linux image with systemd and cloud-init
	// ControllerCIDR is where crmplan's controller node dials the relay
	// from (the operator's address, a /32): the one way into the mesh.
	ControllerCIDR string
	// Nodes gives each host's Receptor node files (config, certificate,
	// key, CA) that cloud-init writes before it starts the node, for a
	// relay whose public address is relayPublic: the relay's certificate
	// names that address, which the controller dials, so they can only be
	// made once the relay's Elastic IP is allocated. A host without an
	// entry gets the receptor unit but no files.
	Nodes func(relayPublic string) (map[string]NodeFiles, error)
	// ReceptorURL is where cloud-init downloads the receptor binary from;
	// empty: the AMI has it at ReceptorBin.
	ReceptorURL string
	// ReceptorBin and AgentBin are where the AMI has receptor and
	// crmplan-host (default /usr/local/bin/receptor and
	// /usr/local/bin/crmplan-host; a loadgen host's AMI also has crmplan
	// beside it, whose k6 the agent runs).
	ReceptorBin, AgentBin string
}

// NodeFiles are a host's Receptor node files as the mesh prepared them.
type NodeFiles struct {
	// Dir is the host's directory on its instance, the same path as the
	// controller's copy of it (the mesh names one path for both): the
	// node's files are in Dir/mesh, the agent is linked to
	// target.AgentPath(Dir).
	Dir    string
	Config string // path of the receptor config among Files
	Files  []File
}

// File is one file cloud-init writes.
type File struct {
	Path    string
	Content []byte
	Mode    string // e.g. "0600"
}

// Network is what the program creates, without Pulumi: the parity test
// compares it with the Terraform export.
type Network struct {
	Name    string // the plan's; prefixes every resource name
	VPCCIDR string
	Subnets []Subnet
	Groups  []string // security groups: one per role with EC2 hosts or an RDS tier, then the relay's
	Rules   []Rule
	Hosts   []Instance
	Relay   string // the relay's host name
	// RelayAddr is host:port every node dials (mesh.DefaultPort on the
	// relay's private address).
	RelayAddr string
	RDS       *RDS // set when the db tiers say database: rds
}

// Subnet is one zone's share of one availability zone.
type Subnet struct {
	Name   string // ZONE-a, ZONE-b
	Zone   string
	Kind   topology.ZoneKind
	AZ     string
	CIDR   string
	Public bool // routes to the internet gateway; hosts get public addresses
}

// Rule admits TCP on Port into group To from group From or from CIDR.
type Rule struct {
	To   string
	From string // a group; empty when CIDR is set
	CIDR string
	Port int
	Why  string // "link", "entry" or "mesh"
}

// Name is the rule's resource name, unique in the network.
func (r Rule) Name() string {
	from := r.From
	if from == "" {
		from = "internet"
		if r.CIDR != Internet {
			from = "controller"
		}
	}
	return fmt.Sprintf("%s-from-%s-%d", r.To, from, r.Port)
}

// Instance is one host's EC2 instance.
type Instance struct {
	Name      string
	Role      topology.Role
	Zone      string
	Subnet    string
	AZ        string
	Type      string
	PrivateIP string
	Groups    []string
}

// RDS replaces the db tiers' instances with RDS for PostgreSQL.
type RDS struct {
	Primary, Replica string // host names of the tiers they replace; Replica may be empty
	Class            string // db.<the tier's instance type>
	StorageGiB       int
	Subnets          []string // the db zone's two subnets (RDS wants two AZs)
}

// relayGroup is the security group only the relay has: the mesh port.
const relayGroup = "mesh-relay"

// Lay describes the laid plan on AWS. It does no I/O: the same plan and
// options give the same network.
func Lay(l topology.Laid, o Options) (Network, error) {
	o = o.withDefaults()
	// No vpn instance: the role (WireGuard in a network namespace of its
	// own) runs on the isolated target only, and this target's deployment
	// skips it, so an instance would be paid for and run nothing, and a
	// group opening WireGuard's port would promise a tunnel nobody serves.
	// The Terraform export leaves it out likewise
	// (TestParityWithTerraformExport).
	l.Topology = l.Topology.Without(topology.RoleVPN)
	vpc, err := netip.ParsePrefix(o.VPCCIDR)
	if err != nil || !vpc.Addr().Is4() || vpc.Bits() != 16 {
		return Network{}, crmplan.Errorf(crmplan.EINVALID, "VPC range %q is not an IPv4 /16", o.VPCCIDR).
			In("--vpc-cidr").Try("crmplan apply --target aws --vpc-cidr %s", DefaultVPCCIDR)
	}
	if !hasDMZ(l.Topology) {
		return Network{}, crmplan.Errorf(crmplan.EINVALID, "the AWS target needs a DMZ zone: it holds the mesh's relay, the internet gateway and the LANs' NAT gateway").
			In("zones").Try("add {name: dmz, kind: dmz} to zones and a web tier in it")
	}
	n := Network{Name: l.Plan.Name, VPCCIDR: vpc.String()}
	subnets := map[string][2]netip.Prefix{} // zone -> its subnets in AZ a and b
	base := vpc.Addr().As4()
	for i, z := range l.Topology.Zones {
		if i+1 > 255 {
			return Network{}, crmplan.Errorf(crmplan.EINVALID, "%d zones do not fit a /16 a /24 each", len(l.Topology.Zones)).In("zones")
		}
		// Zone i gets the /24 at index i+1, as the Terraform export's
		// cidrsubnet(var.vpc_cidr, 8, i+1); its halves are the two AZs.
		a := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(i + 1), 0}), 25)
		b := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(i + 1), 128}), 25)
		subnets[z.Name] = [2]netip.Prefix{a, b}
		for k, p := range []netip.Prefix{a, b} {
			n.Subnets = append(n.Subnets, Subnet{Name: fmt.Sprintf("%s-%c", z.Name, 'a'+k), Zone: z.Name, Kind: z.Kind,
				AZ: o.AZs[k], CIDR: p.String(), Public: z.Kind == topology.DMZ})
		}
	}
	rds, err := rdsTiers(l)
	if err != nil {
		return Network{}, err
	}
	instances := l.Instances()
	used := map[string]int{} // subnet -> hosts placed in it
	perRole := map[topology.Role]int{}
	var meshRoles []string
	seenMesh := map[string]bool{}
	relay, err := mesh.RelayOf(l.Topology)
	if err != nil {
		return Network{}, err
	}
	for _, h := range l.Topology.Hosts {
		k := perRole[h.Role]
		perRole[h.Role]++
		if rds[h.Role] {
			continue
		}
		az := spread(h.Role, k)
		sn, ok := subnets[h.Zone]
		if !ok {
			return Network{}, crmplan.Errorf(crmplan.EINVALID, "host %s is in zone %q, which the topology does not have", h.Name, h.Zone).In("host " + h.Name)
		}
		name := fmt.Sprintf("%s-%c", h.Zone, 'a'+az)
		// From .10, as the local target numbers hosts; AWS keeps the first
		// four addresses and the last of every subnet.
		off := 10 + used[name]
		used[name]++
		if off > 120 {
			return Network{}, crmplan.Errorf(crmplan.EINVALID, "zone %s has more hosts than its subnet %s holds", h.Zone, sn[az]).In("zone " + h.Zone)
		}
		ip := sn[az].Addr().As4()
		ip[3] += byte(off)
		in := Instance{Name: h.Name, Role: h.Role, Zone: h.Zone, Subnet: name, AZ: o.AZs[az], Type: instances[h.Role],
			PrivateIP: netip.AddrFrom4(ip).String(), Groups: []string{string(h.Role)}}
		if h.Name == relay.Name {
			in.Groups = append(in.Groups, relayGroup)
			n.Relay, n.RelayAddr = h.Name, fmt.Sprintf("%s:%d", in.PrivateIP, mesh.DefaultPort)
		} else if !seenMesh[string(h.Role)] {
			seenMesh[string(h.Role)] = true
			meshRoles = append(meshRoles, string(h.Role))
		}
		n.Hosts = append(n.Hosts, in)
	}
	if n.Relay == "" {
		return Network{}, crmplan.Errorf(crmplan.EINVALID, "the mesh's relay %s would run on RDS, which runs no Receptor node", relay.Name).
			In("tiers").Try("add a web tier in a DMZ zone")
	}
	n.Groups = groups(l.Topology)
	n.Rules = rules(l.Topology, n.Groups)
	for _, r := range meshRoles {
		n.Rules = append(n.Rules, Rule{To: relayGroup, From: r, Port: mesh.DefaultPort, Why: "mesh"})
	}
	if o.ControllerCIDR != "" {
		n.Rules = append(n.Rules, Rule{To: relayGroup, CIDR: o.ControllerCIDR, Port: mesh.DefaultPort, Why: "mesh"})
	}
	n.Groups = append(n.Groups, relayGroup)
	if len(rds) > 0 {
		n.RDS = rdsOf(l, instances, subnets)
	}
	return n, nil
}

func (o Options) withDefaults() Options {
	if o.VPCCIDR == "" {
		o.VPCCIDR = DefaultVPCCIDR
	}
	if o.ReceptorBin == "" {
		o.ReceptorBin = "/usr/local/bin/receptor"
	}
	if o.AgentBin == "" {
		o.AgentBin = "/usr/local/bin/crmplan-host"
	}
	if o.AZs[0] == "" {
		o.AZs = [2]string{o.Region + "a", o.Region + "b"}
	}
	return o
}

// spread is the availability zone (0 or 1) of the k-th host of a role:
// a tier's hosts alternate, so that an HA tier survives the loss of one
// zone, and the replica starts in the other zone than its primary.
func spread(r topology.Role, k int) int {
	if r == topology.RoleDBReplica {
		k++
	}
	return k % 2
}

// rdsTiers are the db roles that run on RDS.
func rdsTiers(l topology.Laid) (map[topology.Role]bool, error) {
	out := map[topology.Role]bool{}
	for _, t := range l.Plan.Tiers {
		if t.Database == topology.EngineRDS {
			out[topology.Role(t.Role)] = true
		}
	}
	if len(out) > 0 && !out[topology.RoleDBPrimary] {
		return nil, crmplan.Errorf(crmplan.EINVALID, "database: rds is set on the db-replica tier but not on the db-primary tier: an RDS replica follows an RDS primary").
			In("tiers").Try("database: rds on both db tiers")
	}
	if out[topology.RoleDBPrimary] {
		out[topology.RoleDBReplica] = true
	}
	return out, nil
}

func rdsOf(l topology.Laid, instances map[topology.Role]string, subnets map[string][2]netip.Prefix) *RDS {
	r := &RDS{Class: "db." + instances[topology.RoleDBPrimary], StorageGiB: storageGiB(l)}
	for _, h := range l.Topology.Hosts {
		switch {
		case h.Role == topology.RoleDBPrimary && r.Primary == "":
			r.Primary = h.Name
			r.Subnets = []string{h.Zone + "-a", h.Zone + "-b"}
		case h.Role == topology.RoleDBReplica && r.Replica == "":
			r.Replica = h.Name
		}
	}
	return r
}

// storageGiB is the estimate's storage with room to grow, at least RDS's
// minimum of 20 GiB.
func storageGiB(l topology.Laid) int {
	gib := int(l.Estimate.Database.StorageBytes>>30) * 3 / 2
	if gib < 20 {
		gib = 20
	}
	return gib
}

// groups is one security group per role that has hosts, in topology order.
func groups(t topology.Topology) []string {
	seen := map[topology.Role]bool{}
	var out []string
	for _, h := range t.Hosts {
		if !seen[h.Role] {
			seen[h.Role] = true
			out = append(out, string(h.Role))
		}
	}
	return out
}

// rules are the topology's links between groups that exist, in the order
// the Terraform export writes them, then the public entry points: a role
// with hosts in a DMZ that no role links to.
func rules(t topology.Topology, groups []string) []Rule {
	has := map[string]bool{}
	for _, g := range groups {
		has[g] = true
	}
	links := append([]topology.Link(nil), t.Links...)
	sort.SliceStable(links, func(i, j int) bool {
		if links[i].To != links[j].To {
			return links[i].To < links[j].To
		}
		return links[i].From < links[j].From
	})
	var out []Rule
	seen := map[Rule]bool{}
	for _, l := range links {
		r := Rule{To: string(l.To), From: string(l.From), Port: l.Port, Why: "link"}
		if !has[r.To] || !has[r.From] || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	kinds := map[string]topology.ZoneKind{}
	for _, z := range t.Zones {
		kinds[z.Name] = z.Kind
	}
	linkedTo := map[topology.Role]bool{}
	for _, l := range t.Links {
		linkedTo[l.To] = true
	}
	for _, g := range groups {
		r := topology.Role(g)
		if linkedTo[r] {
			continue
		}
		for _, h := range t.Hosts {
			if h.Role == r && kinds[h.Zone] == topology.DMZ {
				out = append(out, Rule{To: g, CIDR: Internet, Port: topology.DefaultPort(r), Why: "entry"})
				break
			}
		}
	}
	return out
}

func hasDMZ(t topology.Topology) bool {
	for _, z := range t.Zones {
		if z.Kind == topology.DMZ {
			return true
		}
	}
	return false
}

// Topology is t as it stands on AWS: the hosts that get an instance, at
// their private addresses, in zones on their /24s. The mesh's certificates
// and configs are made from it.
func (n Network) Topology(t topology.Topology) topology.Topology {
	out := topology.Topology{Links: t.Links}
	for _, z := range t.Zones {
		for _, s := range n.Subnets {
			if s.Zone == z.Name {
				p := netip.MustParsePrefix(s.CIDR)
				whole, _ := p.Addr().Prefix(24)
				z.CIDR = whole.String()
				break
			}
		}
		out.Zones = append(out.Zones, z)
	}
	addr := map[string]string{}
	for _, h := range n.Hosts {
		addr[h.Name] = h.PrivateIP
	}
	for _, h := range t.Hosts {
		if a, ok := addr[h.Name]; ok {
			h.Address = a
			out.Hosts = append(out.Hosts, h)
		}
	}
	return out
}
