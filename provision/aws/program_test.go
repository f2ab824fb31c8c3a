package aws

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/topology"
)

// examples are the seed plans: the program must describe every one.
var examples = []string{"simplecrm", "longjump", "arint", "client-server", "smarten-ha"}

func layExample(t testing.TB, name string, edit func(*topology.Plan)) topology.Laid {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.DecodePlan(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(plan)
	}
	l, err := topology.Lay(plan)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// created is a resource as the program registered it with the engine.
type created struct {
	Type, Name, ID string
	Inputs         resource.PropertyMap
}

// engine stands in for the Pulumi engine and the aws provider: it records
// every resource and answers with its inputs as its state, an ID made of
// its name, and the few outputs the program reads (an RDS identifier).
type engine struct {
	mu  sync.Mutex
	all []created
}

func (e *engine) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id := args.Name + "-id"
	state := args.Inputs.Copy()
	if args.TypeToken == "aws:ec2/eip:Eip" {
		state["publicIp"] = resource.NewStringProperty(testRelayPublic)
	}
	if args.TypeToken == "aws:rds/instance:Instance" {
		state["identifier"] = resource.NewStringProperty(args.Name)
		state["endpoint"] = resource.NewStringProperty(args.Name + ".rds.example:5432")
	}
	e.mu.Lock()
	e.all = append(e.all, created{Type: args.TypeToken, Name: args.Name, ID: id, Inputs: args.Inputs})
	e.mu.Unlock()
	return id, state, nil
}

func (e *engine) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) { return args.Args, nil }

func (e *engine) of(typ string) []created {
	var out []created
	for _, r := range e.all {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (e *engine) byID(id string) created {
	for _, r := range e.all {
		if r.ID == id {
			return r
		}
	}
	return created{}
}

// str reads a string input, secret or not.
func str(m resource.PropertyMap, key string) string {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return ""
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	if v.IsNumber() {
		return fmt.Sprint(v.NumberValue())
	}
	if v.IsBool() {
		return fmt.Sprint(v.BoolValue())
	}
	return ""
}

func strs(m resource.PropertyMap, key string) []string {
	v, ok := m[resource.PropertyKey(key)]
	if !ok || !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		out = append(out, e.StringValue())
	}
	return out
}

const testController = "203.0.113.7/32"

// testRelayPublic is the Elastic IP the mock engine allocates.
const testRelayPublic = "198.51.100.10"

// testOptions' node files name the relay address they were made for, so
// that the user data shows it reached them.
func testOptions(l topology.Laid) Options {
	o := Options{Region: "eu-west-1", AMI: "ami-0123456789abcdef0", ControllerCIDR: testController}
	o.Nodes = func(relayPublic string) (map[string]NodeFiles, error) {
		nodes := map[string]NodeFiles{}
		for _, h := range l.Topology.Hosts {
			cfg := "/var/lib/crmplan/hosts/" + h.Name + "/mesh/receptor.yaml"
			nodes[h.Name] = NodeFiles{Dir: "/var/lib/crmplan/hosts/" + h.Name, Config: cfg, Files: []File{{Path: cfg,
				Content: []byte("- node: {id: " + h.Name + "} # relay public " + relayPublic + "\n")}}}
		}
		return nodes, nil
	}
	return o
}

// run lays the plan out and runs the program under mocks.
func run(t testing.TB, l topology.Laid) (*engine, Network) {
	t.Helper()
	o := testOptions(l)
	n, err := Lay(l, o)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{}
	if err := pulumi.RunErr(Program(n, o), pulumi.WithMocks("crmplan", l.Plan.Name, e)); err != nil {
		t.Fatal(err)
	}
	return e, n
}

// TestProgramEveryExample runs the program for every example plan and
// checks what AWS would be asked for against the topology itself.
func TestProgramEveryExample(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			l := layExample(t, name, nil)
			e, _ := run(t, l)
			// What AWS runs: every host but a vpn one (Lay).
			want := l
			want.Topology = l.Topology.Without(topology.RoleVPN)
			checkNetwork(t, e, want)
			checkRules(t, e, want)
			checkInstances(t, e, want)
		})
	}
}

// checkNetwork: the VPC, a subnet per zone and AZ in the zone's /24, the
// DMZ's public through the internet gateway, the LANs' through the NAT.
func checkNetwork(t *testing.T, e *engine, l topology.Laid) {
	t.Helper()
	vpcs := e.of("aws:ec2/vpc:Vpc")
	if len(vpcs) != 1 || str(vpcs[0].Inputs, "cidrBlock") != DefaultVPCCIDR {
		t.Fatalf("VPCs %+v, want one on %s", vpcs, DefaultVPCCIDR)
	}
	subnets := e.of("aws:ec2/subnet:Subnet")
	if len(subnets) != 2*len(l.Topology.Zones) {
		t.Errorf("%d subnets for %d zones, want two per zone (one per AZ)", len(subnets), len(l.Topology.Zones))
	}
	routeOf := map[string]string{} // subnet ID -> "igw" or "nat"
	for _, rt := range e.of("aws:ec2/routeTable:RouteTable") {
		routes := rt.Inputs["routes"].ArrayValue()
		if len(routes) != 1 || str(routes[0].ObjectValue(), "cidrBlock") != Internet {
			t.Errorf("route table %s: routes %v, want one default route", rt.Name, routes)
			continue
		}
		via := "igw"
		r := routes[0].ObjectValue()
		if gw := str(r, "natGatewayId"); gw != "" {
			via = "nat"
			if e.byID(gw).Type != "aws:ec2/natGateway:NatGateway" {
				t.Errorf("route table %s routes to %q, not the NAT gateway", rt.Name, gw)
			}
		} else if e.byID(str(r, "gatewayId")).Type != "aws:ec2/internetGateway:InternetGateway" {
			t.Errorf("route table %s routes to neither gateway: %v", rt.Name, r)
		}
		for _, a := range e.of("aws:ec2/routeTableAssociation:RouteTableAssociation") {
			if str(a.Inputs, "routeTableId") == rt.ID {
				routeOf[str(a.Inputs, "subnetId")] = via
			}
		}
	}
	vpc := netip.MustParsePrefix(DefaultVPCCIDR)
	for i, z := range l.Topology.Zones {
		zone := netip.MustParsePrefix(fmt.Sprintf("10.40.%d.0/24", i+1))
		var azs []string
		for _, s := range subnets {
			if !strings.HasSuffix(s.Name, "-"+z.Name+"-a") && !strings.HasSuffix(s.Name, "-"+z.Name+"-b") {
				continue
			}
			cidr := netip.MustParsePrefix(str(s.Inputs, "cidrBlock"))
			if !vpc.Contains(cidr.Addr()) || !zone.Contains(cidr.Addr()) || cidr.Bits() != 25 {
				t.Errorf("subnet %s is %s, want a half of zone %s's %s", s.Name, cidr, z.Name, zone)
			}
			azs = append(azs, str(s.Inputs, "availabilityZone"))
			public := z.Kind == topology.DMZ
			want := map[bool]string{true: "igw", false: "nat"}[public]
			if routeOf[s.ID] != want || str(s.Inputs, "mapPublicIpOnLaunch") != fmt.Sprint(public) {
				t.Errorf("subnet %s of %s zone %s routes via %q (public IPs %s), want %s", s.Name, z.Kind, z.Name,
					routeOf[s.ID], str(s.Inputs, "mapPublicIpOnLaunch"), want)
			}
		}
		sort.Strings(azs)
		if !slices.Equal(azs, []string{"eu-west-1a", "eu-west-1b"}) {
			t.Errorf("zone %s's subnets are in %v, want eu-west-1a and eu-west-1b", z.Name, azs)
		}
	}
	nats := e.of("aws:ec2/natGateway:NatGateway")
	if len(nats) != 1 || routeOf[str(nats[0].Inputs, "subnetId")] != "igw" {
		t.Errorf("NAT gateways %+v, want one in a public subnet", nats)
	}
}

// rule is an ingress rule as AWS would get it: into a role's group, from a
// role's group or a CIDR, on a port.
type rule struct {
	To, From string
	Port     int
}

// ingress reads back every ingress rule, with groups by role name.
func ingress(t *testing.T, e *engine) []rule {
	t.Helper()
	group := func(id string) string {
		r := e.byID(id)
		if r.Type != "aws:ec2/securityGroup:SecurityGroup" {
			t.Fatalf("%q is not a security group", id)
		}
		return str(r.Inputs["tags"].ObjectValue(), "crmplan-group")
	}
	var out []rule
	for _, r := range e.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		in := r.Inputs
		if str(in, "ipProtocol") != "tcp" || str(in, "fromPort") != str(in, "toPort") {
			t.Errorf("rule %s: %s %s-%s, want tcp on one port", r.Name, str(in, "ipProtocol"), str(in, "fromPort"), str(in, "toPort"))
		}
		from := str(in, "cidrIpv4")
		if id := str(in, "referencedSecurityGroupId"); id != "" {
			from = group(id)
		}
		var port int
		fmt.Sscan(str(in, "fromPort"), &port)
		out = append(out, rule{To: group(str(in, "securityGroupId")), From: from, Port: port})
	}
	for _, sg := range e.of("aws:ec2/securityGroup:SecurityGroup") {
		if _, ok := sg.Inputs["ingress"]; ok {
			t.Errorf("security group %s has inline ingress rules: every rule must be its own resource", sg.Name)
		}
	}
	return out
}

// checkRules: the ingress rules are exactly the topology's links between
// roles with hosts, the DMZ's entry role open to users, and the mesh's
// connections to the relay (every other node's role, and the controller).
func checkRules(t *testing.T, e *engine, l topology.Laid) {
	t.Helper()
	roles := map[topology.Role]bool{}
	kinds := map[string]topology.ZoneKind{}
	for _, z := range l.Topology.Zones {
		kinds[z.Name] = z.Kind
	}
	for _, h := range l.Topology.Hosts {
		roles[h.Role] = true
	}
	want := map[rule]bool{}
	linkedTo := map[topology.Role]bool{}
	for _, k := range l.Topology.Links {
		linkedTo[k.To] = true
		if roles[k.From] && roles[k.To] {
			want[rule{string(k.To), string(k.From), k.Port}] = true
		}
	}
	relay, err := mesh.RelayOf(l.Topology)
	if err != nil {
		t.Fatal(err)
	}
	want[rule{"mesh-relay", testController, mesh.DefaultPort}] = true
	onRDS := map[topology.Role]bool{}
	for _, tier := range l.Plan.Tiers {
		onRDS[topology.Role(tier.Role)] = tier.Database == topology.EngineRDS
	}
	for _, h := range l.Topology.Hosts {
		if !linkedTo[h.Role] && kinds[h.Zone] == topology.DMZ {
			want[rule{string(h.Role), Internet, topology.DefaultPort(h.Role)}] = true
		}
		// RDS runs no Receptor node: nothing of it dials the relay.
		if h.Name != relay.Name && !onRDS[h.Role] {
			want[rule{"mesh-relay", string(h.Role), mesh.DefaultPort}] = true
		}
	}
	got := map[rule]bool{}
	for _, r := range ingress(t, e) {
		if got[r] {
			t.Errorf("rule %+v twice", r)
		}
		got[r] = true
		if !want[r] {
			t.Errorf("rule %+v is neither a link, the entry, nor the mesh", r)
		}
	}
	for r := range want {
		if !got[r] {
			t.Errorf("no rule for %+v", r)
		}
	}
}

// checkInstances: an instance per host, typed as the report prices it, in
// its zone, HA tiers over both AZs, the relay alone in the relay group,
// and user data that starts the node and names the relay.
func checkInstances(t *testing.T, e *engine, l topology.Laid) {
	t.Helper()
	types := l.Instances()
	relay, _ := mesh.RelayOf(l.Topology)
	insts := map[string]created{}
	for _, r := range e.of("aws:ec2/instance:Instance") {
		insts[str(r.Inputs["tags"].ObjectValue(), "Name")] = r
	}
	if len(insts) != len(l.Topology.Hosts) {
		t.Errorf("%d instances for %d hosts", len(insts), len(l.Topology.Hosts))
	}
	var relayIP string
	if r, ok := insts[relay.Name]; ok {
		relayIP = str(r.Inputs, "privateIp")
	}
	azs := map[topology.Role]map[string]bool{}
	count := map[topology.Role]int{}
	for _, h := range l.Topology.Hosts {
		r, ok := insts[h.Name]
		if !ok {
			t.Errorf("no instance for host %s", h.Name)
			continue
		}
		in := r.Inputs
		if got := str(in, "instanceType"); got != types[h.Role] {
			t.Errorf("%s: instance type %s, want %s", h.Name, got, types[h.Role])
		}
		subnet := e.byID(str(in, "subnetId"))
		if !strings.Contains(subnet.Name, "-"+h.Zone+"-") {
			t.Errorf("%s of zone %s is in subnet %s", h.Name, h.Zone, subnet.Name)
		}
		ip := netip.MustParseAddr(str(in, "privateIp"))
		if !netip.MustParsePrefix(str(subnet.Inputs, "cidrBlock")).Contains(ip) {
			t.Errorf("%s: private IP %s outside its subnet %s", h.Name, ip, str(subnet.Inputs, "cidrBlock"))
		}
		if azs[h.Role] == nil {
			azs[h.Role] = map[string]bool{}
		}
		azs[h.Role][str(subnet.Inputs, "availabilityZone")] = true
		count[h.Role]++
		var groups []string
		for _, id := range strs(in, "vpcSecurityGroupIds") {
			groups = append(groups, str(e.byID(id).Inputs["tags"].ObjectValue(), "crmplan-group"))
		}
		wantGroups := []string{string(h.Role)}
		if h.Name == relay.Name {
			wantGroups = append(wantGroups, "mesh-relay")
		}
		if !slices.Equal(groups, wantGroups) {
			t.Errorf("%s: groups %v, want %v", h.Name, groups, wantGroups)
		}
		if !in["userData"].IsSecret() {
			t.Errorf("%s: user data carries the node's key and must be a secret", h.Name)
		}
		ud := str(in, "userData")
		relayAddr := fmt.Sprintf("%s:%d", relayIP, mesh.DefaultPort)
		for _, want := range []string{"#cloud-config", "relay " + relay.Name, relayAddr,
			"ExecStart=/usr/local/bin/receptor --config /var/lib/crmplan/hosts/" + h.Name + "/mesh/receptor.yaml",
			"systemctl", "enable", "--now", "crmplan-receptor.service"} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s: user data lacks %q:\n%s", h.Name, want, ud)
			}
		}
		var doc struct {
			Runcmd [][]string `yaml:"runcmd"`
		}
		if err := yaml.Unmarshal([]byte(ud), &doc); err != nil {
			t.Errorf("%s: user data is not YAML: %v", h.Name, err)
		}
		// The node's work runs the AMI's crmplan where a Remote mesh's
		// work types look for it.
		link := []string{"ln", "-sfn", "/usr/local/bin/crmplan-host", "/var/lib/crmplan/hosts/" + h.Name + "/bin/crmplan-host"}
		if !slices.ContainsFunc(doc.Runcmd, func(c []string) bool { return slices.Equal(c, link) }) {
			t.Errorf("%s: runcmd %q lacks %q", h.Name, doc.Runcmd, link)
		}
		// The node files were made for the relay's Elastic IP, which the
		// controller dials and the relay's certificate names.
		if !strings.Contains(ud, base64.StdEncoding.EncodeToString([]byte("- node: {id: "+h.Name+"} # relay public "+testRelayPublic+"\n"))) {
			t.Errorf("%s: user data lacks its node files made for the relay's public address %s:\n%s", h.Name, testRelayPublic, ud)
		}
	}
	eips := map[string]created{}
	for _, r := range e.of("aws:ec2/eip:Eip") {
		eips[r.ID] = r
	}
	assoc := e.of("aws:ec2/eipAssociation:EipAssociation")
	if len(assoc) != 1 || str(assoc[0].Inputs, "instanceId") != insts[relay.Name].ID ||
		str(eips[str(assoc[0].Inputs, "allocationId")].Inputs["tags"].ObjectValue(), "crmplan-role") != "mesh-relay" {
		t.Errorf("Elastic IP associations %+v: want the relay's address on %s only", assoc, relay.Name)
	}
	for role, n := range count {
		if n >= 2 && len(azs[role]) != 2 {
			t.Errorf("HA tier %s (%d hosts) is in AZs %v, want both", role, n, azs[role])
		}
	}
	if p, r := azs[topology.RoleDBPrimary], azs[topology.RoleDBReplica]; len(p) == 1 && len(r) == 1 {
		for az := range p {
			if r[az] {
				t.Errorf("db-primary and db-replica share AZ %s: one zone's loss takes both", az)
			}
		}
	}
}

// TestNoDMZReachesPostgres: no ingress rule admits a DMZ subnet, a group
// with a DMZ host, or the internet to the PostgreSQL port, on any example.
func TestNoDMZReachesPostgres(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			l := layExample(t, name, nil)
			e, n := run(t, l)
			dmzRoles := map[string]bool{}
			var dmzNets []netip.Prefix
			for _, s := range n.Subnets {
				if s.Kind == topology.DMZ {
					dmzNets = append(dmzNets, netip.MustParsePrefix(s.CIDR))
				}
			}
			for _, h := range n.Hosts {
				for _, s := range n.Subnets {
					if s.Name == h.Subnet && s.Kind == topology.DMZ {
						dmzRoles[string(h.Role)] = true
					}
				}
			}
			checked := 0
			for _, r := range ingress(t, e) {
				if r.Port != 5432 {
					continue
				}
				checked++
				if dmzRoles[r.From] && !topology.DMZDataLink(topology.Role(r.From), topology.Role(r.To)) {
					// Seed 000's marketing server reaches its own
					// database, the one link the policy allows.
					t.Errorf("%s reaches %s on 5432 from a group with DMZ hosts", r.From, r.To)
				}
				if p, err := netip.ParsePrefix(r.From); err == nil {
					for _, d := range dmzNets {
						if p.Overlaps(d) {
							t.Errorf("%s is open on 5432 to %s, which holds DMZ subnet %s", r.To, p, d)
						}
					}
				}
			}
			if checked == 0 {
				t.Error("no rule on 5432 at all: the database is unreachable, nothing was checked")
			}
		})
	}
}

// TestProgramRDS: database: rds on the db tiers makes them RDS for
// PostgreSQL (a primary and a read replica in the other AZ) instead of
// instances, behind the same groups, so the links still apply.
func TestProgramRDS(t *testing.T) {
	l := layExample(t, "simplecrm", func(p *topology.Plan) {
		for i := range p.Tiers {
			if p.Tiers[i].Role == "db-primary" || p.Tiers[i].Role == "db-replica" {
				p.Tiers[i].Database = topology.EngineRDS
			}
		}
	})
	e, _ := run(t, l)
	for _, r := range e.of("aws:ec2/instance:Instance") {
		if role := str(r.Inputs["tags"].ObjectValue(), "crmplan-role"); role == "db-primary" || role == "db-replica" {
			t.Errorf("instance %s for %s: RDS runs the database", r.Name, role)
		}
	}
	dbs := e.of("aws:rds/instance:Instance")
	if len(dbs) != 2 {
		t.Fatalf("%d RDS instances, want a primary and a replica", len(dbs))
	}
	var primary, replica created
	for _, d := range dbs {
		if str(d.Inputs, "replicateSourceDb") != "" {
			replica = d
		} else {
			primary = d
		}
	}
	class := "db." + l.Instances()[topology.RoleDBPrimary]
	if str(primary.Inputs, "engine") != "postgres" || str(primary.Inputs, "instanceClass") != class ||
		str(primary.Inputs, "manageMasterUserPassword") != "true" {
		t.Errorf("primary %v: want postgres on %s with the password in Secrets Manager", primary.Inputs, class)
	}
	if str(replica.Inputs, "replicateSourceDb") != primary.Name || str(replica.Inputs, "availabilityZone") == str(primary.Inputs, "availabilityZone") {
		t.Errorf("replica follows %q in %s, primary %s in %s: want it to follow the primary from the other AZ",
			str(replica.Inputs, "replicateSourceDb"), str(replica.Inputs, "availabilityZone"), primary.Name, str(primary.Inputs, "availabilityZone"))
	}
	for _, d := range []created{primary, replica} {
		ids := strs(d.Inputs, "vpcSecurityGroupIds")
		role := str(d.Inputs["tags"].ObjectValue(), "crmplan-role")
		if len(ids) != 1 || str(e.byID(ids[0]).Inputs["tags"].ObjectValue(), "crmplan-group") != role {
			t.Errorf("%s: groups %v, want the %s group the links admit", d.Name, ids, role)
		}
	}
	groups := e.of("aws:rds/subnetGroup:SubnetGroup")
	if len(groups) != 1 || len(strs(groups[0].Inputs, "subnetIds")) != 2 {
		t.Errorf("subnet groups %+v, want one over the db zone's two AZs", groups)
	}
	checkRules(t, e, l)
}

func TestLayRefuses(t *testing.T) {
	tests := []struct {
		name    string
		plan    string
		edit    func(*topology.Plan)
		opts    Options
		wantErr string
	}{
		{"a VPC that is not a /16", "simplecrm", nil, Options{VPCCIDR: "10.0.0.0/8"}, "not an IPv4 /16"},
		{"rds on the replica alone", "simplecrm", func(p *topology.Plan) {
			for i := range p.Tiers {
				if p.Tiers[i].Role == "db-replica" {
					p.Tiers[i].Database = topology.EngineRDS
				}
			}
		}, Options{}, "not on the db-primary tier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := layExample(t, tt.plan, tt.edit)
			_, err := Lay(l, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Lay: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
