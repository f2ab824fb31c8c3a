// Package terraform exports a plan's topology as a Terraform module for AWS,
// for teams whose pipelines run Terraform rather than crmplan apply. The
// module mirrors what the local target builds: one subnet per zone (the DMZ
// public, LANs private), one security group per role whose ingress rules are
// exactly the topology's links (so the DMZ still cannot reach the database),
// and one instance per host, typed as the report prices it. It also opens
// what `crmplan apply --target ssh` needs on the machines it makes: SSH from
// the operator's range (var.operator_cidr) to the DMZ, SSH from the DMZ to
// the other zones (the inventory's via:), and the mesh relay's port, as the
// Pulumi AWS program opens it.
//
// The module is written with hclwrite, HashiCorp's own HCL generator, so
// quoting and layout are Terraform's; Check then runs the real terraform
// binary over it through terraform-exec.
package terraform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/topology"
)

// FileName is the module's one file.
const FileName = "main.tf"

// AWS provider constraint the module is written against: the
// aws_vpc_security_group_ingress_rule resource it uses arrived in 5.0.
const awsProvider = "~> 5.0"

// RelayGroup is the security group of the mesh relay's instance, named as
// the Pulumi AWS program names it: the nodes and the operator dial the
// relay on mesh.DefaultPort.
const RelayGroup = "mesh-relay"

// sshPort is where crmplan apply --target ssh logs in to the machines.
const sshPort = 22

// Module is a generated Terraform module.
type Module struct {
	Source    []byte         // main.tf
	Resources map[string]int // resource type -> count, for the summary
	// Skipped are the plan's hosts the module makes no instance for.
	Skipped []Skip
}

// Skip is a host of the plan left out of the module, and why.
type Skip struct {
	Host string `json:"host" yaml:"host"`
	Why  string `json:"why" yaml:"why"`
}

// vpnSkipped is why the module makes no instance for a vpn host. The vpn
// role (WireGuard in a network namespace of its own, its nftables in front
// of the entry role) is deployed by the isolated target only; crmplan apply
// --target ssh, which deploys onto the module's instances, skips it. An
// instance for it would be paid for and run nothing, and a security group
// opening WireGuard's port would promise a tunnel nobody serves.
const vpnSkipped = "the vpn role runs only on the isolated target (crmplan apply --isolate), and crmplan apply --target ssh, which deploys onto these instances, skips it: an instance would run nothing"

// Generate renders the module for a plan laid out by topology.Lay: its
// hosts, with the server sizes of its estimate. It does no I/O, and the same
// inputs give the same bytes.
func Generate(l topology.Laid) (Module, error) {
	plan := l.Plan
	topo, skipped := withoutVPN(l.Topology)
	g := generator{plan: plan, topo: topo, file: hclwrite.NewEmptyFile(), resources: map[string]int{}}
	if len(topo.Hosts) > 0 {
		relay, err := mesh.RelayOf(topo)
		if err != nil {
			return Module{}, err
		}
		g.relay = relay.Name
	}
	instance := l.Instances()
	g.header()
	g.network()
	roles := g.securityGroups()
	g.rules(roles)
	g.relayRules()
	g.sshRules(roles)
	for _, h := range topo.Hosts {
		g.instance(h, instance[h.Role])
	}
	g.outputs()
	return Module{Source: hclwrite.Format(g.file.Bytes()), Resources: g.resources, Skipped: skipped}, nil
}

// withoutVPN is t without its vpn hosts (vpnSkipped), and those as
// skipped. Links from the vpn role then have no group to come from and
// make no rule.
func withoutVPN(t topology.Topology) (topology.Topology, []Skip) {
	var skipped []Skip
	for _, h := range t.HostsByRole(topology.RoleVPN) {
		skipped = append(skipped, Skip{Host: h.Name, Why: vpnSkipped})
	}
	return t.Without(topology.RoleVPN), skipped
}

type generator struct {
	plan      *topology.Plan
	topo      topology.Topology
	file      *hclwrite.File
	resources map[string]int
	relay     string // the host the mesh's nodes dial (mesh.RelayOf)
}

// ident makes a Terraform identifier of a crmplan name: "db-primary-1" ->
// "db_primary_1". Names are [a-z0-9-] (the plan codec checks), so this is
// one-to-one.
func ident(name string) string { return strings.ReplaceAll(name, "-", "_") }

// ref is a reference expression such as aws_vpc.crm.id.
func ref(parts ...string) hcl.Traversal {
	t := hcl.Traversal{hcl.TraverseRoot{Name: parts[0]}}
	for _, p := range parts[1:] {
		t = append(t, hcl.TraverseAttr{Name: p})
	}
	return t
}

func (g *generator) resource(typ, name string) *hclwrite.Body {
	g.resources[typ]++
	g.file.Body().AppendNewline()
	return g.file.Body().AppendNewBlock("resource", []string{typ, name}).Body()
}

func (g *generator) tags(b *hclwrite.Body, extra map[string]string) {
	tags := map[string]cty.Value{"Name": cty.StringVal(g.plan.Name), "crmplan-plan": cty.StringVal(g.plan.Name)}
	for k, v := range extra {
		tags[k] = cty.StringVal(v)
	}
	b.SetAttributeValue("tags", cty.MapVal(tags))
}

func (g *generator) header() {
	body := g.file.Body()
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(
		fmt.Sprintf("# Generated by `crmplan export` from plan %q. Edit the plan and export again\n"+
			"# rather than editing this file: the next export overwrites it.\n", g.plan.Name))}})
	tf := body.AppendNewBlock("terraform", nil).Body()
	tf.SetAttributeValue("required_version", cty.StringVal(">= 1.5"))
	req := tf.AppendNewBlock("required_providers", nil).Body()
	req.SetAttributeValue("aws", cty.ObjectVal(map[string]cty.Value{
		"source": cty.StringVal("hashicorp/aws"), "version": cty.StringVal(awsProvider)}))

	variable := func(name, typ, desc string, def *cty.Value) {
		body.AppendNewline()
		v := body.AppendNewBlock("variable", []string{name}).Body()
		v.SetAttributeTraversal("type", ref(typ))
		v.SetAttributeValue("description", cty.StringVal(desc))
		if def != nil {
			v.SetAttributeValue("default", *def)
		}
	}
	region, vpc := cty.StringVal("eu-west-1"), cty.StringVal("10.40.0.0/16")
	variable("region", "string", "AWS region to deploy into.", &region)
	variable("vpc_cidr", "string", "Address range of the VPC; each zone gets a /24 of it, in plan order.", &vpc)
	variable("ami", "string", "AMI of the hosts (a Linux image with PostgreSQL 15 and the crm binary).", nil)
	variable("operator_cidr", "string", "Address range crmplan runs from (e.g. 203.0.113.7/32): it logs in to the DMZ hosts over SSH and dials the mesh relay (crmplan apply --target ssh).", nil)

	body.AppendNewline()
	body.AppendNewBlock("provider", []string{"aws"}).Body().SetAttributeTraversal("region", ref("var", "region"))
}

// network lays out the VPC and a subnet per zone. Only DMZ subnets route to
// the internet gateway and give their hosts public addresses. The other
// subnets reach out (apt-get of crmplan apply --install-packages, the OS's
// updates) through a NAT gateway in the first DMZ subnet, which lets
// nothing from outside in; inside the VPC every subnet reaches every other
// through the VPC's own route, where the security groups decide.
func (g *generator) network() {
	vpc := g.resource("aws_vpc", "crm")
	vpc.SetAttributeTraversal("cidr_block", ref("var", "vpc_cidr"))
	vpc.SetAttributeValue("enable_dns_hostnames", cty.True)
	g.tags(vpc, nil)

	hasDMZ := false
	for i, z := range g.topo.Zones {
		s := g.resource("aws_subnet", ident(z.Name))
		s.SetAttributeTraversal("vpc_id", ref("aws_vpc", "crm", "id"))
		s.SetAttributeRaw("cidr_block", hclwrite.TokensForFunctionCall("cidrsubnet",
			hclwrite.TokensForTraversal(ref("var", "vpc_cidr")), hclwrite.TokensForValue(cty.NumberIntVal(8)),
			hclwrite.TokensForValue(cty.NumberIntVal(int64(i+1)))))
		public := z.Kind == topology.DMZ
		hasDMZ = hasDMZ || public
		s.SetAttributeValue("map_public_ip_on_launch", cty.BoolVal(public))
		g.tags(s, map[string]string{"Name": g.plan.Name + "-" + z.Name, "crmplan-zone": z.Name, "crmplan-zone-kind": string(z.Kind)})
	}
	if !hasDMZ {
		return
	}
	igw := g.resource("aws_internet_gateway", "crm")
	igw.SetAttributeTraversal("vpc_id", ref("aws_vpc", "crm", "id"))
	g.tags(igw, nil)
	rt := g.resource("aws_route_table", "public")
	rt.SetAttributeTraversal("vpc_id", ref("aws_vpc", "crm", "id"))
	route := rt.AppendNewBlock("route", nil).Body()
	route.SetAttributeValue("cidr_block", cty.StringVal("0.0.0.0/0"))
	route.SetAttributeTraversal("gateway_id", ref("aws_internet_gateway", "crm", "id"))
	g.tags(rt, nil)
	var natSubnet string
	var private []string
	for _, z := range g.topo.Zones {
		if z.Kind != topology.DMZ {
			private = append(private, z.Name)
			continue
		}
		if natSubnet == "" {
			natSubnet = z.Name
		}
		a := g.resource("aws_route_table_association", ident(z.Name))
		a.SetAttributeTraversal("subnet_id", ref("aws_subnet", ident(z.Name), "id"))
		a.SetAttributeTraversal("route_table_id", ref("aws_route_table", "public", "id"))
	}
	if len(private) == 0 {
		return
	}
	eip := g.resource("aws_eip", "nat")
	eip.SetAttributeValue("domain", cty.StringVal("vpc"))
	g.tags(eip, map[string]string{"Name": g.plan.Name + "-nat"})
	nat := g.resource("aws_nat_gateway", "crm")
	nat.SetAttributeTraversal("allocation_id", ref("aws_eip", "nat", "id"))
	nat.SetAttributeTraversal("subnet_id", ref("aws_subnet", ident(natSubnet), "id"))
	g.tags(nat, map[string]string{"Name": g.plan.Name + "-nat"})
	// AWS's own advice: the gateway needs the internet gateway first.
	nat.SetAttributeRaw("depends_on", hclwrite.TokensForTuple([]hclwrite.Tokens{hclwrite.TokensForTraversal(ref("aws_internet_gateway", "crm"))}))
	prt := g.resource("aws_route_table", "private")
	prt.SetAttributeTraversal("vpc_id", ref("aws_vpc", "crm", "id"))
	proute := prt.AppendNewBlock("route", nil).Body()
	proute.SetAttributeValue("cidr_block", cty.StringVal("0.0.0.0/0"))
	proute.SetAttributeTraversal("nat_gateway_id", ref("aws_nat_gateway", "crm", "id"))
	g.tags(prt, map[string]string{"Name": g.plan.Name + "-private"})
	for _, z := range private {
		a := g.resource("aws_route_table_association", ident(z))
		a.SetAttributeTraversal("subnet_id", ref("aws_subnet", ident(z), "id"))
		a.SetAttributeTraversal("route_table_id", ref("aws_route_table", "private", "id"))
	}
}

// securityGroups makes one group per role that has hosts, allowing all
// egress: the policy is enforced on ingress, link by link.
func (g *generator) securityGroups() []topology.Role {
	seen := map[topology.Role]bool{}
	var roles []topology.Role
	for _, h := range g.topo.Hosts {
		if !seen[h.Role] {
			seen[h.Role] = true
			roles = append(roles, h.Role)
		}
	}
	for _, r := range roles {
		sg := g.resource("aws_security_group", ident(string(r)))
		sg.SetAttributeValue("name", cty.StringVal(g.plan.Name+"-"+string(r)))
		sg.SetAttributeValue("description", cty.StringVal(fmt.Sprintf("crmplan role %s: ingress only from the roles the topology links to it", r)))
		sg.SetAttributeTraversal("vpc_id", ref("aws_vpc", "crm", "id"))
		eg := sg.AppendNewBlock("egress", nil).Body()
		eg.SetAttributeValue("from_port", cty.NumberIntVal(0))
		eg.SetAttributeValue("to_port", cty.NumberIntVal(0))
		eg.SetAttributeValue("protocol", cty.StringVal("-1"))
		eg.SetAttributeValue("cidr_blocks", cty.ListVal([]cty.Value{cty.StringVal("0.0.0.0/0")}))
		g.tags(sg, map[string]string{"Name": g.plan.Name + "-" + string(r), "crmplan-role": string(r)})
	}
	return roles
}

// rules turns every link into an ingress rule between two security groups,
// and opens the entry roles of a DMZ (the hosts users reach) to the world.
// Anything without a rule is denied, as on the local target.
func (g *generator) rules(roles []topology.Role) {
	has := map[topology.Role]bool{}
	for _, r := range roles {
		has[r] = true
	}
	links := append([]topology.Link(nil), g.topo.Links...)
	sort.SliceStable(links, func(i, j int) bool {
		if links[i].To != links[j].To {
			return links[i].To < links[j].To
		}
		return links[i].From < links[j].From
	})
	for _, l := range links {
		if !has[l.From] || !has[l.To] {
			continue
		}
		name := fmt.Sprintf("%s_from_%s_%d", ident(string(l.To)), ident(string(l.From)), l.Port)
		r := g.resource("aws_vpc_security_group_ingress_rule", name)
		r.SetAttributeTraversal("security_group_id", ref("aws_security_group", ident(string(l.To)), "id"))
		r.SetAttributeTraversal("referenced_security_group_id", ref("aws_security_group", ident(string(l.From)), "id"))
		g.port(r, l.Port)
		r.SetAttributeValue("description", cty.StringVal(fmt.Sprintf("%s -> %s", l.From, l.To)))
	}
	for _, r := range roles {
		if !g.public(r) {
			continue
		}
		rule := g.resource("aws_vpc_security_group_ingress_rule", ident(string(r))+"_from_internet")
		rule.SetAttributeTraversal("security_group_id", ref("aws_security_group", ident(string(r)), "id"))
		rule.SetAttributeValue("cidr_ipv4", cty.StringVal("0.0.0.0/0"))
		g.port(rule, topology.DefaultPort(r))
		rule.SetAttributeValue("description", cty.StringVal("users reach the presentation tier"))
	}
}

// sshRules open SSH as crmplan apply --target ssh logs in: from the
// operator's range to the DMZ roles (their public addresses), and from the
// relay's group to every other role. The relay is the first DMZ host in
// plan order (mesh.RelayOf), which is the via: crmplan inventory --from-terraform writes for
// the machines without a public address (ProxyJump); the rest of the DMZ
// still reaches no database, not even by SSH. Nothing else reaches port 22.
func (g *generator) sshRules(roles []topology.Role) {
	var dmz, inside []topology.Role
	for _, r := range roles {
		if g.inDMZ(r) {
			dmz = append(dmz, r)
		} else {
			inside = append(inside, r)
		}
	}
	if g.relay == "" {
		inside = nil
	}
	for _, r := range dmz {
		rule := g.resource("aws_vpc_security_group_ingress_rule", fmt.Sprintf("%s_from_operator_%d", ident(string(r)), sshPort))
		rule.SetAttributeTraversal("security_group_id", ref("aws_security_group", ident(string(r)), "id"))
		rule.SetAttributeTraversal("cidr_ipv4", ref("var", "operator_cidr"))
		g.port(rule, sshPort)
		rule.SetAttributeValue("description", cty.StringVal("crmplan apply --target ssh logs in to the DMZ"))
	}
	for _, to := range inside {
		relay := ident(RelayGroup)
		rule := g.resource("aws_vpc_security_group_ingress_rule", fmt.Sprintf("%s_from_%s_%d", ident(string(to)), relay, sshPort))
		rule.SetAttributeTraversal("security_group_id", ref("aws_security_group", ident(string(to)), "id"))
		rule.SetAttributeTraversal("referenced_security_group_id", ref("aws_security_group", relay, "id"))
		g.port(rule, sshPort)
		rule.SetAttributeValue("description", cty.StringVal(fmt.Sprintf("ssh through %s, the relay (via:)", g.relay)))
	}
}

// relayRules give the relay's instance a group of its own, which every
// role with another host and the operator's range may dial on the mesh's
// port: every node, the operator's controller included, dials the relay.
func (g *generator) relayRules() {
	if g.relay == "" {
		return
	}
	relay := ident(RelayGroup)
	sg := g.resource("aws_security_group", relay)
	sg.SetAttributeValue("name", cty.StringVal(g.plan.Name+"-"+RelayGroup))
	sg.SetAttributeValue("description", cty.StringVal(fmt.Sprintf("crmplan mesh relay (%s): the nodes and the operator dial it", g.relay)))
	sg.SetAttributeTraversal("vpc_id", ref("aws_vpc", "crm", "id"))
	g.tags(sg, map[string]string{"Name": g.plan.Name + "-" + RelayGroup, "crmplan-role": RelayGroup})
	seen := map[topology.Role]bool{}
	for _, h := range g.topo.Hosts {
		if h.Name == g.relay || seen[h.Role] {
			continue
		}
		seen[h.Role] = true
		rule := g.resource("aws_vpc_security_group_ingress_rule", fmt.Sprintf("%s_from_%s_%d", relay, ident(string(h.Role)), mesh.DefaultPort))
		rule.SetAttributeTraversal("security_group_id", ref("aws_security_group", relay, "id"))
		rule.SetAttributeTraversal("referenced_security_group_id", ref("aws_security_group", ident(string(h.Role)), "id"))
		g.port(rule, mesh.DefaultPort)
		rule.SetAttributeValue("description", cty.StringVal(fmt.Sprintf("%s's mesh nodes dial the relay", h.Role)))
	}
	rule := g.resource("aws_vpc_security_group_ingress_rule", fmt.Sprintf("%s_from_operator_%d", relay, mesh.DefaultPort))
	rule.SetAttributeTraversal("security_group_id", ref("aws_security_group", relay, "id"))
	rule.SetAttributeTraversal("cidr_ipv4", ref("var", "operator_cidr"))
	g.port(rule, mesh.DefaultPort)
	rule.SetAttributeValue("description", cty.StringVal("the operator's mesh controller dials the relay"))
}

// inDMZ says whether role r has a host in a DMZ zone.
func (g *generator) inDMZ(r topology.Role) bool {
	for _, h := range g.topo.Hosts {
		if h.Role == r && g.zoneKind(h.Zone) == topology.DMZ {
			return true
		}
	}
	return false
}

func (g *generator) port(b *hclwrite.Body, port int) {
	b.SetAttributeValue("ip_protocol", cty.StringVal("tcp"))
	b.SetAttributeValue("from_port", cty.NumberIntVal(int64(port)))
	b.SetAttributeValue("to_port", cty.NumberIntVal(int64(port)))
}

// public says whether users reach role r from outside: a role with hosts in
// a DMZ that no other role links to (the entry point, e.g. the failover
// switch in front of the web nodes of seed 004). Load generators link to
// the entry point as users do, which leaves it the entry point.
func (g *generator) public(r topology.Role) bool {
	for _, l := range g.topo.Links {
		if l.To == r && l.From != topology.RoleLoadgen {
			return false
		}
	}
	return g.inDMZ(r)
}

func (g *generator) zoneKind(name string) topology.ZoneKind {
	for _, z := range g.topo.Zones {
		if z.Name == name {
			return z.Kind
		}
	}
	return ""
}

func (g *generator) instance(h topology.Host, instanceType string) {
	b := g.resource("aws_instance", ident(h.Name))
	b.SetAttributeTraversal("ami", ref("var", "ami"))
	b.SetAttributeValue("instance_type", cty.StringVal(instanceType))
	b.SetAttributeTraversal("subnet_id", ref("aws_subnet", ident(h.Zone), "id"))
	groups := []hclwrite.Tokens{hclwrite.TokensForTraversal(ref("aws_security_group", ident(string(h.Role)), "id"))}
	if h.Name == g.relay {
		groups = append(groups, hclwrite.TokensForTraversal(ref("aws_security_group", ident(RelayGroup), "id")))
	}
	b.SetAttributeRaw("vpc_security_group_ids", hclwrite.TokensForTuple(groups))
	g.tags(b, map[string]string{"Name": h.Name, "crmplan-role": string(h.Role), "crmplan-zone": h.Zone,
		"crmplan-port": fmt.Sprint(h.Port)})
}

// outputs name the entry hosts' public addresses and every host's private
// one, which is what an operator wires DNS and the crm configs from.
func (g *generator) outputs() {
	var entry, all []hclwrite.ObjectAttrTokens
	for _, h := range g.topo.Hosts {
		addr := hclwrite.TokensForTraversal(ref("aws_instance", ident(h.Name), "private_ip"))
		all = append(all, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForValue(cty.StringVal(h.Name)), Value: addr})
		if g.public(h.Role) {
			entry = append(entry, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForValue(cty.StringVal(h.Name)),
				Value: hclwrite.TokensForTraversal(ref("aws_instance", ident(h.Name), "public_ip"))})
		}
	}
	body := g.file.Body()
	body.AppendNewline()
	o := body.AppendNewBlock("output", []string{"private_ips"}).Body()
	o.SetAttributeValue("description", cty.StringVal("Private address of every host, by crmplan host name."))
	o.SetAttributeRaw("value", hclwrite.TokensForObject(all))
	if len(entry) > 0 {
		body.AppendNewline()
		o := body.AppendNewBlock("output", []string{"entry_public_ips"}).Body()
		o.SetAttributeValue("description", cty.StringVal("Public address of the hosts users reach."))
		o.SetAttributeRaw("value", hclwrite.TokensForObject(entry))
	}
	g.inventoryOutput()
}

// InventoryOutput is the output crmplan inventory --from-terraform reads
// (see ReadInventory).
const InventoryOutput = "crmplan_inventory"

// inventoryOutput is everything an inventory of the ssh target needs, in
// one output: the plan's name, and per host its zone, its kind, its
// private address (the one its interface has, which its roles bind and
// the other instances dial: the mesh's nodes dial the relay there) and,
// in a DMZ (whose subnets give public addresses), its public one, which
// is the one this side of the VPC can dial.
func (g *generator) inventoryOutput() {
	var hosts []hclwrite.ObjectAttrTokens
	for _, h := range g.topo.Hosts {
		kind := g.zoneKind(h.Zone)
		attrs := []hclwrite.ObjectAttrTokens{
			{Name: hclwrite.TokensForIdentifier("zone"), Value: hclwrite.TokensForValue(cty.StringVal(h.Zone))},
			{Name: hclwrite.TokensForIdentifier("zone_kind"), Value: hclwrite.TokensForValue(cty.StringVal(string(kind)))},
			{Name: hclwrite.TokensForIdentifier("private_ip"), Value: hclwrite.TokensForTraversal(ref("aws_instance", ident(h.Name), "private_ip"))},
		}
		if kind == topology.DMZ {
			attrs = append(attrs, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForIdentifier("public_ip"),
				Value: hclwrite.TokensForTraversal(ref("aws_instance", ident(h.Name), "public_ip"))})
		}
		hosts = append(hosts, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForValue(cty.StringVal(h.Name)), Value: hclwrite.TokensForObject(attrs)})
	}
	body := g.file.Body()
	body.AppendNewline()
	o := body.AppendNewBlock("output", []string{InventoryOutput}).Body()
	o.SetAttributeValue("description", cty.StringVal("Read by crmplan inventory --from-terraform to write the inventory of crmplan apply --target ssh."))
	o.SetAttributeRaw("value", hclwrite.TokensForObject([]hclwrite.ObjectAttrTokens{
		{Name: hclwrite.TokensForIdentifier("plan"), Value: hclwrite.TokensForValue(cty.StringVal(g.plan.Name))},
		{Name: hclwrite.TokensForIdentifier("hosts"), Value: hclwrite.TokensForObject(hosts)},
	}))
}
