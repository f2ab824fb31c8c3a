package aws

import (
	"sync"

	"github.com/pulumi/pulumi-aws/sdk/v7/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v7/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v7/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Program is the Pulumi program that creates n on AWS with o's AMI and
// node files. Run it with the Automation API (Up) or, offline, under
// pulumi.WithMocks.
func Program(n Network, o Options) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		b := builder{ctx: ctx, n: n, o: o.withDefaults()}
		return b.build()
	}
}

type builder struct {
	ctx     *pulumi.Context
	n       Network
	o       Options
	vpc     *ec2.Vpc
	subnets map[string]*ec2.Subnet
	groups  map[string]*ec2.SecurityGroup
}

// name prefixes a resource name with the plan's, so that two plans'
// stacks in one account never clash.
func (b *builder) name(s string) string { return b.n.Name + "-" + s }

func (b *builder) tags(extra ...string) pulumi.StringMap {
	t := pulumi.StringMap{"crmplan-plan": pulumi.String(b.n.Name)}
	for i := 0; i+1 < len(extra); i += 2 {
		t[extra[i]] = pulumi.String(extra[i+1])
	}
	return t
}

func (b *builder) build() error {
	for _, step := range []func() error{b.network, b.securityGroups, b.rules, b.instances, b.database} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// network makes the VPC, the subnets, the internet gateway the DMZ routes
// to and the NAT gateway (in the DMZ) the LANs leave through.
func (b *builder) network() error {
	var err error
	b.vpc, err = ec2.NewVpc(b.ctx, b.name("vpc"), &ec2.VpcArgs{
		CidrBlock: pulumi.String(b.n.VPCCIDR), EnableDnsHostnames: pulumi.Bool(true), EnableDnsSupport: pulumi.Bool(true),
		Tags: b.tags("Name", b.n.Name)})
	if err != nil {
		return err
	}
	b.subnets = map[string]*ec2.Subnet{}
	for _, s := range b.n.Subnets {
		sn, err := ec2.NewSubnet(b.ctx, b.name(s.Name), &ec2.SubnetArgs{
			VpcId: b.vpc.ID(), CidrBlock: pulumi.String(s.CIDR), AvailabilityZone: pulumi.String(s.AZ),
			MapPublicIpOnLaunch: pulumi.Bool(s.Public),
			Tags:                b.tags("Name", b.name(s.Name), "crmplan-zone", s.Zone, "crmplan-zone-kind", string(s.Kind))})
		if err != nil {
			return err
		}
		b.subnets[s.Name] = sn
	}
	igw, err := ec2.NewInternetGateway(b.ctx, b.name("igw"), &ec2.InternetGatewayArgs{VpcId: b.vpc.ID(), Tags: b.tags()})
	if err != nil {
		return err
	}
	public, err := ec2.NewRouteTable(b.ctx, b.name("public"), &ec2.RouteTableArgs{VpcId: b.vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String(Internet), GatewayId: igw.ID()}},
		Tags:   b.tags("crmplan-route", "public")})
	if err != nil {
		return err
	}
	natSubnet := b.subnets[b.n.natSubnet()]
	eip, err := ec2.NewEip(b.ctx, b.name("nat-ip"), &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: b.tags()},
		pulumi.DependsOn([]pulumi.Resource{igw}))
	if err != nil {
		return err
	}
	nat, err := ec2.NewNatGateway(b.ctx, b.name("nat"), &ec2.NatGatewayArgs{AllocationId: eip.ID(), SubnetId: natSubnet.ID(), Tags: b.tags()})
	if err != nil {
		return err
	}
	private, err := ec2.NewRouteTable(b.ctx, b.name("private"), &ec2.RouteTableArgs{VpcId: b.vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String(Internet), NatGatewayId: nat.ID()}},
		Tags:   b.tags("crmplan-route", "private")})
	if err != nil {
		return err
	}
	for _, s := range b.n.Subnets {
		rt := private
		if s.Public {
			rt = public
		}
		if _, err := ec2.NewRouteTableAssociation(b.ctx, b.name(s.Name), &ec2.RouteTableAssociationArgs{
			SubnetId: b.subnets[s.Name].ID(), RouteTableId: rt.ID()}); err != nil {
			return err
		}
	}
	return nil
}

// natSubnet is the first public subnet: the NAT gateway's. Lay refuses a
// topology without a DMZ, so there is one.
func (n Network) natSubnet() string {
	for _, s := range n.Subnets {
		if s.Public {
			return s.Name
		}
	}
	return ""
}

// securityGroups makes the groups with no inline rules: every rule is a
// resource of its own, as the provider recommends, so that one link's rule
// changes without touching the others. Egress is open; the policy is on
// ingress, link by link.
func (b *builder) securityGroups() error {
	b.groups = map[string]*ec2.SecurityGroup{}
	for _, g := range b.n.Groups {
		sg, err := ec2.NewSecurityGroup(b.ctx, b.name(g), &ec2.SecurityGroupArgs{
			Name: pulumi.String(b.name(g)), VpcId: b.vpc.ID(),
			Description: pulumi.String("crmplan " + g + ": ingress only from what the topology links to it"),
			Tags:        b.tags("Name", b.name(g), "crmplan-group", g)})
		if err != nil {
			return err
		}
		b.groups[g] = sg
		if _, err := vpc.NewSecurityGroupEgressRule(b.ctx, b.name(g+"-egress"), &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: sg.ID(), IpProtocol: pulumi.String("-1"), CidrIpv4: pulumi.String(Internet),
			Description: pulumi.String("hosts reach out: packages, the relay, the NAT gateway")}); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) rules() error {
	for _, r := range b.n.Rules {
		args := &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: b.groups[r.To].ID(), IpProtocol: pulumi.String("tcp"),
			FromPort: pulumi.Int(r.Port), ToPort: pulumi.Int(r.Port),
			Description: pulumi.String(r.Why + ": " + r.Name()),
			Tags:        b.tags("crmplan-rule", r.Why)}
		if r.From != "" {
			args.ReferencedSecurityGroupId = b.groups[r.From].ID()
		} else {
			args.CidrIpv4 = pulumi.String(r.CIDR)
		}
		if _, err := vpc.NewSecurityGroupIngressRule(b.ctx, b.name(r.Name()), args); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) instances() error {
	// The relay's public address exists before the relay: the controller
	// dials it and checks it against the relay's certificate, which is in
	// every host's user data (the others pin it).
	relayIP, err := ec2.NewEip(b.ctx, b.name("relay-ip"), &ec2.EipArgs{Domain: pulumi.String("vpc"),
		Tags: b.tags("Name", b.name("relay-ip"), "crmplan-role", "mesh-relay")})
	if err != nil {
		return err
	}
	nodes := nodeFiles{make: b.o.Nodes}
	for _, h := range b.n.Hosts {
		var sgs pulumi.StringArray
		for _, g := range h.Groups {
			sgs = append(sgs, b.groups[g].ID())
		}
		data := relayIP.PublicIp.ApplyT(func(ip string) (string, error) {
			files, err := nodes.of(ip)
			if err != nil {
				return "", err
			}
			return UserData(b.n, h, b.o, files[h.Name])
		}).(pulumi.StringOutput)
		inst, err := ec2.NewInstance(b.ctx, b.name(h.Name), &ec2.InstanceArgs{
			Ami: pulumi.String(b.o.AMI), InstanceType: pulumi.String(h.Type),
			SubnetId: b.subnets[h.Subnet].ID(), PrivateIp: pulumi.String(h.PrivateIP),
			VpcSecurityGroupIds: sgs,
			// The node's key is in it: a secret in Pulumi's state.
			UserData:                pulumi.ToSecret(data).(pulumi.StringOutput),
			UserDataReplaceOnChange: pulumi.Bool(true),
			MetadataOptions:         &ec2.InstanceMetadataOptionsArgs{HttpTokens: pulumi.String("required")},
			Tags:                    b.tags("Name", h.Name, "crmplan-role", string(h.Role), "crmplan-zone", h.Zone)})
		if err != nil {
			return err
		}
		b.ctx.Export("private-ip/"+h.Name, inst.PrivateIp)
		if h.Name == b.n.Relay {
			if _, err := ec2.NewEipAssociation(b.ctx, b.name("relay-ip"), &ec2.EipAssociationArgs{
				InstanceId: inst.ID(), AllocationId: relayIP.ID()}); err != nil {
				return err
			}
			b.ctx.Export(OutRelayPublic, relayIP.PublicIp)
		}
	}
	return nil
}

// OutRelayPublic is the stack output with the relay's public address.
const OutRelayPublic = "relay-public-ip"

// nodeFiles makes the hosts' node files once per relay address, however
// many instances' user data ask.
type nodeFiles struct {
	make func(relayPublic string) (map[string]NodeFiles, error)
	mu   sync.Mutex
	ip   string
	done map[string]NodeFiles
}

func (f *nodeFiles) of(relayPublic string) (map[string]NodeFiles, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.make == nil {
		return nil, nil
	}
	if f.done != nil && f.ip == relayPublic {
		return f.done, nil
	}
	files, err := f.make(relayPublic)
	if err != nil {
		return nil, err
	}
	f.ip, f.done = relayPublic, files
	return files, nil
}

// database makes RDS for PostgreSQL in place of the db tiers' hosts when
// the plan says database: rds, with a read replica for the db-replica tier.
func (b *builder) database() error {
	r := b.n.RDS
	if r == nil {
		return nil
	}
	var ids pulumi.StringArray
	for _, s := range r.Subnets {
		ids = append(ids, b.subnets[s].ID())
	}
	group, err := rds.NewSubnetGroup(b.ctx, b.name("db"), &rds.SubnetGroupArgs{SubnetIds: ids, Tags: b.tags()})
	if err != nil {
		return err
	}
	primary, err := rds.NewInstance(b.ctx, b.name(r.Primary), &rds.InstanceArgs{
		Engine: pulumi.String("postgres"), EngineVersion: pulumi.String("15"), InstanceClass: pulumi.String(r.Class),
		AllocatedStorage: pulumi.Int(r.StorageGiB), StorageEncrypted: pulumi.Bool(true),
		DbName: pulumi.String("crm"), Username: pulumi.String("crm"), ManageMasterUserPassword: pulumi.Bool(true),
		AvailabilityZone:  pulumi.String(b.o.AZs[0]),
		DbSubnetGroupName: group.Name, VpcSecurityGroupIds: pulumi.StringArray{b.groups["db-primary"].ID()},
		BackupRetentionPeriod:   pulumi.Int(7), // a read replica needs backups on its source
		FinalSnapshotIdentifier: pulumi.String(b.name(r.Primary) + "-final"),
		Tags:                    b.tags("Name", r.Primary, "crmplan-role", "db-primary")})
	if err != nil {
		return err
	}
	b.ctx.Export("db-endpoint/"+r.Primary, primary.Endpoint)
	if r.Replica == "" {
		return nil
	}
	replica, err := rds.NewInstance(b.ctx, b.name(r.Replica), &rds.InstanceArgs{
		ReplicateSourceDb: primary.Identifier, InstanceClass: pulumi.String(r.Class), StorageEncrypted: pulumi.Bool(true),
		AvailabilityZone:    pulumi.String(b.o.AZs[1]), // the other zone than its primary
		VpcSecurityGroupIds: pulumi.StringArray{b.groups["db-replica"].ID()}, SkipFinalSnapshot: pulumi.Bool(true),
		Tags: b.tags("Name", r.Replica, "crmplan-role", "db-replica")})
	if err != nil {
		return err
	}
	b.ctx.Export("db-endpoint/"+r.Replica, replica.Endpoint)
	return nil
}
