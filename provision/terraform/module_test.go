package terraform

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/crmplan/crmplan/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// examples are the seed plans: every seed topology must export.
var examples = []string{"simplecrm", "longjump", "arint", "client-server", "smarten-ha"}

func generate(t *testing.T, name string) Module {
	t.Helper()
	m, err := Generate(laid(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// goldenPlans are the two shapes worth reading line by line: a DMZ web
// tier in front of app servers (seed 000) and a failover switch (seed 004).
// The other seeds are covered by the terraform check below.
var goldenPlans = []string{"simplecrm", "smarten-ha"}

func TestGenerateGolden(t *testing.T) {
	for _, name := range goldenPlans {
		t.Run(name, func(t *testing.T) {
			m := generate(t, name)
			golden := filepath.Join("testdata", name+".tf")
			if *update {
				if err := os.WriteFile(golden, m.Source, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./provision/terraform -update)", err)
			}
			if !bytes.Equal(m.Source, want) {
				t.Errorf("%s differs from the generated module; if the change is intended: go test ./provision/terraform -update", golden)
			}
			if again := generate(t, name); !bytes.Equal(again.Source, m.Source) {
				t.Error("two exports of the same plan differ: the module must be deterministic")
			}
		})
	}
}

// ingress is the topology's network policy as the module gives it to AWS:
// ingressAll without what the ssh target needs (SSH, the mesh relay),
// which TestSSHTargetRules checks.
func ingress(t *testing.T, src []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for sg, rules := range ingressAll(t, src) {
		if sg == "mesh_relay" {
			continue
		}
		for _, r := range rules {
			if !strings.HasSuffix(r, ":22") {
				out[sg] = append(out[sg], r)
			}
		}
	}
	return out
}

// ingressAll reads the module back and returns, per security group, the
// groups (or "internet", or "operator" for var.operator_cidr) allowed in
// and on which ports.
func ingressAll(t *testing.T, src []byte) map[string][]string {
	t.Helper()
	f := parsed(t, src)
	out := map[string][]string{}
	attr := func(b *hclwrite.Body, name string) string {
		a := b.GetAttribute(name)
		if a == nil {
			return ""
		}
		return strings.TrimSpace(string(a.Expr().BuildTokens(nil).Bytes()))
	}
	for _, b := range f.Body().Blocks() {
		if b.Type() != "resource" || b.Labels()[0] != "aws_vpc_security_group_ingress_rule" {
			continue
		}
		to := strings.TrimSuffix(strings.TrimPrefix(attr(b.Body(), "security_group_id"), "aws_security_group."), ".id")
		from := strings.TrimSuffix(strings.TrimPrefix(attr(b.Body(), "referenced_security_group_id"), "aws_security_group."), ".id")
		switch attr(b.Body(), "cidr_ipv4") {
		case `"0.0.0.0/0"`:
			from = "internet"
		case "var.operator_cidr":
			from = "operator"
		}
		out[to] = append(out[to], from+":"+attr(b.Body(), "from_port"))
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func TestSecurityGroupsFollowTheNetworkPolicy(t *testing.T) {
	tests := []struct {
		name string
		plan string
		want map[string][]string
	}{
		{
			name: "seed 000: only the web tier is public, only app servers reach the primary",
			plan: "simplecrm",
			want: map[string][]string{
				"web":        {"internet:8080"},
				"api":        {"integration:8081", "marketing:8081", "web:8081"},
				"db_primary": {"api:5432", "db_replica:5432", "etl:5432"},
				// Seed 000's marketing server (DMZ) reaches its own
				// database, and only it reaches it.
				"marketing_db": {"marketing:5432"},
			},
		},
		{
			name: "seed 004: the failover switch is the entry, the app nodes sit behind it",
			plan: "smarten-ha",
			want: map[string][]string{
				"failover": {"internet:8080"},
				"api":      {"failover:8081"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ingress(t, generate(t, tt.plan).Source)
			for sg, want := range tt.want {
				if strings.Join(got[sg], " ") != strings.Join(want, " ") {
					t.Errorf("ingress of %s = %v, want %v", sg, got[sg], want)
				}
			}
			for sg, rules := range got {
				for _, r := range rules {
					if strings.HasPrefix(sg, "db_") && (strings.HasPrefix(r, "web:") || strings.HasPrefix(r, "internet:")) {
						t.Errorf("%s admits %s: the DMZ must not reach the database", sg, r)
					}
				}
			}
		})
	}
}

// TestSSHTargetRules: the export opens what crmplan apply --target ssh
// needs on its machines, derived from the topology and the mesh: SSH from
// the operator to the DMZ roles, SSH from the relay (the inventory's via:)
// to every other role, and the relay's port from every role with a node
// other than the relay and from the operator. Nothing else opens port 22,
// and only the relay's instance is in the relay's group.
func TestSSHTargetRules(t *testing.T) {
	tests := []struct {
		plan  string
		relay string // the relay's instance
		want  map[string][]string
	}{
		{
			plan:  "simplecrm",
			relay: "web_1",
			want: map[string][]string{
				"web":        {"internet:8080", "operator:22"},
				"api":        {"integration:8081", "marketing:8081", "mesh_relay:22", "web:8081"},
				"db_primary": {"api:5432", "db_replica:5432", "etl:5432", "mesh_relay:22"},
				"db_replica": {"api:5432", "mesh_relay:22"},
				"mesh_relay": {"api:27199", "db_primary:27199", "db_replica:27199", "etl:27199", "integration:27199", "marketing:27199", "marketing_db:27199", "operator:27199", "web:27199"}, // web-2 too
			},
		},
		{
			plan:  "smarten-ha",
			relay: "failover_1",
			want: map[string][]string{
				"failover":   {"internet:8080", "operator:22"},
				"mesh_relay": {"api:27199", "db_primary:27199", "db_replica:27199", "operator:27199"}, // one switch: the relay
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.plan, func(t *testing.T) {
			m := generate(t, tt.plan)
			got := ingressAll(t, m.Source)
			for sg, want := range tt.want {
				if strings.Join(got[sg], " ") != strings.Join(want, " ") {
					t.Errorf("ingress of %s = %v, want %v", sg, got[sg], want)
				}
			}
			l := laid(t, tt.plan)
			dmz := map[string]bool{}
			for _, z := range l.Topology.Zones {
				dmz[z.Name] = z.Kind == topology.DMZ
			}
			for _, h := range l.Topology.Hosts {
				sg := strings.ReplaceAll(string(h.Role), "-", "_")
				var ssh []string
				for _, r := range got[sg] {
					if strings.HasSuffix(r, ":22") {
						ssh = append(ssh, r)
					}
				}
				want := "mesh_relay:22"
				if dmz[h.Zone] {
					want = "operator:22"
				}
				if strings.Join(ssh, " ") != want {
					t.Errorf("host %s (%s): SSH from %v, want only %s", h.Name, sg, ssh, want)
				}
			}
			for _, b := range parsed(t, m.Source).Body().Blocks() {
				if b.Type() != "resource" || b.Labels()[0] != "aws_instance" {
					continue
				}
				groups := string(b.Body().GetAttribute("vpc_security_group_ids").Expr().BuildTokens(nil).Bytes())
				if in := strings.Contains(groups, "aws_security_group.mesh_relay.id"); in != (b.Labels()[1] == tt.relay) {
					t.Errorf("instance %s: groups %s; only %s is the relay", b.Labels()[1], groups, tt.relay)
				}
			}
		})
	}
}

func parsed(t *testing.T, src []byte) *hclwrite.File {
	t.Helper()
	f, diags := hclwrite.ParseConfig(src, FileName, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("the module does not parse: %s", diags)
	}
	return f
}

// TestTerraformAcceptsTheModule runs the real terraform over every export:
// fmt -check parses the files and fails on anything not canonical.
// validate needs the AWS provider from the registry, which this machine
// cannot reach, so it is not run here.
func TestTerraformAcceptsTheModule(t *testing.T) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("no terraform binary on $PATH")
	}
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Write(dir, generate(t, name)); err != nil {
				t.Fatal(err)
			}
			res, err := Check(context.Background(), dir, bin, false)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Formatted || res.Terraform == "" {
				t.Errorf("check = %+v, want formatted with a terraform version", res)
			}
		})
	}
}

// TestCheckCatchesABrokenModule proves the check is not a formality: a
// module terraform cannot parse fails it.
func TestCheckCatchesABrokenModule(t *testing.T) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("no terraform binary on $PATH")
	}
	dir := t.TempDir()
	if _, err := Write(dir, Module{Source: []byte("resource \"aws_vpc\" \"crm\" {\n  cidr_block = \n}\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(context.Background(), dir, bin, false); err == nil {
		t.Fatal("a module with a syntax error passed the check")
	}
}

// TestLoadgenLeavesTheEntryPublic: load generators in an outside zone reach
// the web tier like users, which stays open to the internet; nothing
// reaches the generators.
func TestLoadgenLeavesTheEntryPublic(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "simplecrm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(data), "zones:\n", "zones:\n  - {name: users, kind: outside, cidr: 127.10.0.0/24}\n", 1)
	src = strings.Replace(src, "  - role: etl\n    zone: lan\n", "  - role: etl\n    zone: lan\n  - role: loadgen\n    zone: users\n    servers: 2\n", 1)
	plan, err := topology.DecodePlan("plan.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	l, err := topology.Lay(plan)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Generate(l)
	if err != nil {
		t.Fatal(err)
	}
	got := ingress(t, m.Source)
	if want := "internet:8080 loadgen:8080"; strings.Join(got["web"], " ") != want {
		t.Errorf("ingress of web = %v, want %s", got["web"], want)
	}
	if len(got["loadgen"]) != 0 {
		t.Errorf("ingress of loadgen = %v, want none", got["loadgen"])
	}
}

// TestPrivateSubnetsReachOutThroughNAT: in every seed's export, each zone
// that is not a DMZ routes 0.0.0.0/0 to a NAT gateway in a DMZ subnet (apt
// on the LAN machines), and each DMZ zone to the internet gateway.
func TestPrivateSubnetsReachOutThroughNAT(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			l := laid(t, name)
			f := parsed(t, generate(t, name).Source)
			attr := func(b *hclwrite.Body, name string) string {
				if a := b.GetAttribute(name); a != nil {
					return strings.TrimSpace(string(a.Expr().BuildTokens(nil).Bytes()))
				}
				return ""
			}
			tables := map[string]string{} // route table -> where 0.0.0.0/0 goes
			assoc := map[string]string{}  // subnet -> route table
			natSubnet := ""
			for _, b := range f.Body().Blocks() {
				if b.Type() != "resource" {
					continue
				}
				switch b.Labels()[0] {
				case "aws_route_table":
					for _, r := range b.Body().Blocks() {
						if attr(r.Body(), "cidr_block") == `"0.0.0.0/0"` {
							tables["aws_route_table."+b.Labels()[1]+".id"] = attr(r.Body(), "gateway_id") + attr(r.Body(), "nat_gateway_id")
						}
					}
				case "aws_route_table_association":
					assoc[attr(b.Body(), "subnet_id")] = attr(b.Body(), "route_table_id")
				case "aws_nat_gateway":
					natSubnet = attr(b.Body(), "subnet_id")
				}
			}
			dmz := map[string]bool{}
			for _, z := range l.Topology.Zones {
				dmz["aws_subnet."+ident(z.Name)+".id"] = z.Kind == topology.DMZ
			}
			if natSubnet != "" && !dmz[natSubnet] {
				t.Errorf("the NAT gateway is in %s, not in a DMZ subnet", natSubnet)
			}
			for _, z := range l.Topology.Zones {
				subnet := "aws_subnet." + ident(z.Name) + ".id"
				want := "aws_nat_gateway.crm.id"
				if z.Kind == topology.DMZ {
					want = "aws_internet_gateway.crm.id"
				}
				if got := tables[assoc[subnet]]; got != want {
					t.Errorf("zone %s (%s) routes out through %q, want %s", z.Name, z.Kind, got, want)
				}
			}
		})
	}
}

// TestVPNLeftOut: seed 002's vpn host gets no instance, no security group
// and no rule (the ssh target that deploys onto the instances skips the
// role), and the module says so; its other hosts are all there.
func TestVPNLeftOut(t *testing.T) {
	l := laid(t, "arint")
	m := generate(t, "arint")
	if len(m.Skipped) != 1 || m.Skipped[0].Host != "vpn-1" || !strings.Contains(m.Skipped[0].Why, "isolated target") {
		t.Errorf("skipped %+v, want vpn-1 with why", m.Skipped)
	}
	src := string(m.Source)
	for _, s := range []string{`"aws_instance" "vpn_1"`, `"aws_security_group" "vpn"`, "aws_security_group.vpn.id", "51820"} {
		if strings.Contains(src, s) {
			t.Errorf("the module holds %s", s)
		}
	}
	for _, h := range l.Topology.Hosts {
		if h.Role != topology.RoleVPN && !strings.Contains(src, `"aws_instance" "`+ident(h.Name)+`"`) {
			t.Errorf("host %s has no instance", h.Name)
		}
	}
}
