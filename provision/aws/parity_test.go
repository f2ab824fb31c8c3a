package aws

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/crmplan/crmplan/provision/terraform"
)

// described is a network and its instances as either description gives
// them, in names both share: zones, roles and hosts.
type described struct {
	Zones     map[string]string // zone -> its /24
	Public    map[string]bool   // zone -> public addresses and the internet gateway
	Groups    []string          // one per role, and the mesh relay's
	Rules     []string          // "to<-from:port", from a group, "internet" or "operator"
	Instances map[string]string // host -> "type zone group": its role's group
}

// fromTerraform reads the exported module back.
func fromTerraform(t *testing.T, src []byte) described {
	t.Helper()
	f, diags := hclwrite.ParseConfig(src, terraform.FileName, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("the module does not parse: %s", diags)
	}
	attr := func(b *hclwrite.Body, name string) string {
		a := b.GetAttribute(name)
		if a == nil {
			return ""
		}
		return strings.TrimSpace(string(a.Expr().BuildTokens(nil).Bytes()))
	}
	// "aws_security_group.db_replica.id" -> "db-replica"
	refName := func(expr string) string {
		parts := strings.Split(strings.Trim(expr, "[] "), ".")
		if len(parts) != 3 {
			return ""
		}
		return strings.ReplaceAll(parts[1], "_", "-")
	}
	d := described{Zones: map[string]string{}, Public: map[string]bool{}, Instances: map[string]string{}}
	for _, b := range f.Body().Blocks() {
		if b.Type() != "resource" {
			continue
		}
		body, name := b.Body(), strings.ReplaceAll(b.Labels()[1], "_", "-")
		switch b.Labels()[0] {
		case "aws_subnet":
			// cidrsubnet(var.vpc_cidr, 8, N) of the default 10.40.0.0/16.
			var n int
			if _, err := fmt.Sscanf(attr(body, "cidr_block"), "cidrsubnet(var.vpc_cidr, 8, %d)", &n); err != nil {
				t.Fatalf("subnet %s: cidr_block %q: %v", name, attr(body, "cidr_block"), err)
			}
			d.Zones[name] = fmt.Sprintf("10.40.%d.0/24", n)
			d.Public[name] = attr(body, "map_public_ip_on_launch") == "true"
		case "aws_security_group":
			d.Groups = append(d.Groups, name)
		case "aws_vpc_security_group_ingress_rule":
			if attr(body, "from_port") == "22" {
				// SSH for crmplan apply --target ssh onto the export's
				// machines; the program's instances start their nodes by
				// cloud-init and take no login.
				continue
			}
			from := refName(attr(body, "referenced_security_group_id"))
			switch attr(body, "cidr_ipv4") {
			case `"0.0.0.0/0"`:
				from = "internet"
			case "var.operator_cidr":
				from = "operator"
			}
			d.Rules = append(d.Rules, fmt.Sprintf("%s<-%s:%s", refName(attr(body, "security_group_id")), from, attr(body, "from_port")))
		case "aws_instance":
			groups := strings.Split(strings.Trim(attr(body, "vpc_security_group_ids"), "[] "), ",")
			d.Instances[name] = fmt.Sprintf("%s %s %s", strings.Trim(attr(body, "instance_type"), `"`),
				refName(attr(body, "subnet_id")), refName(groups[0]))
		}
	}
	return d.sorted()
}

// fromPulumi reads what the program asked AWS for. Its subnets are the
// halves of a zone's /24 (one per AZ); the controller's range is the
// export's var.operator_cidr.
func fromPulumi(t *testing.T, e *engine) described {
	t.Helper()
	d := described{Zones: map[string]string{}, Public: map[string]bool{}, Instances: map[string]string{}}
	for _, s := range e.of("aws:ec2/subnet:Subnet") {
		zone := str(s.Inputs["tags"].ObjectValue(), "crmplan-zone")
		half := netip.MustParsePrefix(str(s.Inputs, "cidrBlock"))
		whole, _ := half.Addr().Prefix(24)
		if prev, ok := d.Zones[zone]; ok && prev != whole.String() {
			t.Errorf("zone %s's subnets are in %s and %s", zone, prev, whole)
		}
		d.Zones[zone] = whole.String()
		d.Public[zone] = str(s.Inputs, "mapPublicIpOnLaunch") == "true"
	}
	for _, g := range e.of("aws:ec2/securityGroup:SecurityGroup") {
		d.Groups = append(d.Groups, str(g.Inputs["tags"].ObjectValue(), "crmplan-group"))
	}
	for _, r := range ingress(t, e) {
		from := r.From
		switch from {
		case Internet:
			from = "internet"
		case testController:
			from = "operator"
		}
		d.Rules = append(d.Rules, fmt.Sprintf("%s<-%s:%d", r.To, from, r.Port))
	}
	for _, i := range e.of("aws:ec2/instance:Instance") {
		tags := i.Inputs["tags"].ObjectValue()
		d.Instances[str(tags, "Name")] = fmt.Sprintf("%s %s %s", str(i.Inputs, "instanceType"), str(tags, "crmplan-zone"), str(tags, "crmplan-role"))
	}
	return d.sorted()
}

func (d described) sorted() described {
	sort.Strings(d.Groups)
	sort.Strings(d.Rules)
	return d
}

// TestParityWithTerraformExport: for every example plan, `crmplan export
// --format terraform` and the Pulumi AWS program describe the same network
// (zones and their ranges, which are public, one group per role and the
// relay's, the same ingress rules, the mesh's included) and the same
// instances (type, zone, group), so a team can take either path. Only the
// export opens SSH, which the ssh target needs on its machines.
func TestParityWithTerraformExport(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			l := layExample(t, name, nil)
			m, err := terraform.Generate(l)
			if err != nil {
				t.Fatal(err)
			}
			tf := fromTerraform(t, m.Source)
			e, _ := run(t, l)
			pu := fromPulumi(t, e)
			if len(tf.Instances) == 0 || len(tf.Rules) == 0 {
				t.Fatalf("read nothing back from the export: %+v", tf)
			}
			for zone, cidr := range tf.Zones {
				if pu.Zones[zone] != cidr || pu.Public[zone] != tf.Public[zone] {
					t.Errorf("zone %s: export %s public %v, program %s public %v", zone, cidr, tf.Public[zone], pu.Zones[zone], pu.Public[zone])
				}
			}
			if len(pu.Zones) != len(tf.Zones) {
				t.Errorf("zones: export %v, program %v", tf.Zones, pu.Zones)
			}
			if !slices.Equal(tf.Groups, pu.Groups) {
				t.Errorf("security groups: export %v, program %v", tf.Groups, pu.Groups)
			}
			if !slices.Equal(tf.Rules, pu.Rules) {
				t.Errorf("ingress rules:\nexport  %v\nprogram %v", tf.Rules, pu.Rules)
			}
			for host, want := range tf.Instances {
				if pu.Instances[host] != want {
					t.Errorf("host %s: export %q, program %q", host, want, pu.Instances[host])
				}
			}
			if len(pu.Instances) != len(tf.Instances) {
				t.Errorf("%d instances in the export, %d in the program", len(tf.Instances), len(pu.Instances))
			}
		})
	}
}
