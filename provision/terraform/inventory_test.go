package terraform

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

func terraformBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("no terraform binary on $PATH")
	}
	return bin
}

// instanceRef is an attribute of an instance in the export's outputs.
var instanceRef = regexp.MustCompile(`aws_instance\.(\w+)\.(\w+)`)

// appliedOutputs really applies the outputs of the export m, as written,
// with terraform: each aws_instance they refer to becomes a terraform_data
// resource (Terraform's built-in provider, the one that needs no
// registry) holding literal addresses, 10.40.Z.N private and 203.0.113.N
// public. Only the resource type changes, not the outputs' expressions.
func appliedOutputs(t *testing.T, bin string, m Module) string {
	t.Helper()
	f, diags := hclwrite.ParseConfig(m.Source, FileName, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var src bytes.Buffer
	seen := map[string]bool{}
	for _, b := range f.Body().Blocks() {
		if b.Type() != "output" {
			continue
		}
		block := string(b.BuildTokens(nil).Bytes())
		for _, ref := range instanceRef.FindAllStringSubmatch(block, -1) {
			if seen[ref[1]] {
				continue
			}
			seen[ref[1]] = true
			n := len(seen)
			fmt.Fprintf(&src, "resource \"terraform_data\" %q {\n  input = { private_ip = \"10.40.%d.%d\", public_ip = \"203.0.113.%d\" }\n}\n\n", ref[1], n/10+1, n+10, n+10)
		}
		src.WriteString(instanceRef.ReplaceAllString(block, "terraform_data.$1.output.$2") + "\n")
	}
	return apply(t, bin, src.Bytes())
}

// apply runs terraform init and apply over src in a directory of its own.
func apply(t *testing.T, bin string, src []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), src, 0o644); err != nil {
		t.Fatal(err)
	}
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tf.Init(ctx, tfexec.Backend(false)); err != nil {
		t.Fatal(err)
	}
	if err := tf.Apply(ctx); err != nil {
		t.Fatalf("terraform apply of\n%s\n%v", src, err)
	}
	return dir
}

func laid(t *testing.T, name string) topology.Laid {
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
	l, err := topology.Lay(plan)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReadInventoryGolden: seed 000's export, its outputs applied by real
// terraform, read back through terraform output -json, written as the
// inventory the ssh target reads.
func TestReadInventoryGolden(t *testing.T) {
	bin := terraformBin(t)
	l := laid(t, "simplecrm")
	dir := appliedOutputs(t, bin, generate(t, "simplecrm"))
	inv, err := ReadInventory(context.Background(), InventoryRequest{Dir: dir, Terraform: bin, Plan: &l,
		Key: "~/.ssh/id_ed25519", KnownHosts: "~/.ssh/known_hosts"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := inv.Encode(InventoryHead("infra/"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "simplecrm.machines.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./provision/terraform -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the inventory differs from %s; if the change is intended: go test ./provision/terraform -update\n%s", golden, got)
	}
	back, err := ssh.ParseInventory("machines.yaml", got)
	if err != nil {
		t.Fatalf("the ssh target refuses the written inventory: %v", err)
	}
	names := make([]string, len(l.Topology.Hosts))
	for i, h := range l.Topology.Hosts {
		names[i] = h.Name
	}
	if err := back.Check(names); err != nil {
		t.Errorf("the written inventory does not fit the plan: %v", err)
	}
	if r, err := back.Route("db-primary-1"); err != nil || len(r) != 2 || r[0].Name != "web-1" {
		t.Errorf("db-primary-1's route = %+v, %v; want through web-1", r, err)
	}
}

func TestReadInventoryErrors(t *testing.T) {
	bin := terraformBin(t)
	l := laid(t, "simplecrm")
	other := laid(t, "client-server")
	literal := func(hosts string) []byte {
		return []byte("output \"crmplan_inventory\" {\n  value = { plan = \"simplecrm\", hosts = {\n" + hosts + "  } }\n}\n")
	}
	var all strings.Builder
	for i, h := range l.Topology.Hosts {
		if h.Name == "api-2" {
			continue
		}
		fmt.Fprintf(&all, "    %q = { zone = %q, zone_kind = %q, private_ip = \"10.40.2.%d\" }\n", h.Name, h.Zone, h.Zone, i+10)
	}
	notApplied := t.TempDir()
	if err := os.WriteFile(filepath.Join(notApplied, FileName), generate(t, "simplecrm").Source, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		dir      string
		plan     *topology.Laid
		via      string
		wantCode string
		wantMsg  string
	}{
		{"no state", notApplied, &l, "", crmplan.ENOTFOUND, "no outputs"},
		{"missing output", apply(t, bin, []byte("output \"private_ips\" {\n  value = { \"web-1\" = \"10.40.1.10\" }\n}\n")), &l, "", crmplan.ENOTFOUND, "no output crmplan_inventory (it has private_ips)"},
		{"host of the plan missing", apply(t, bin, literal(all.String())), &l, "", crmplan.ENOTFOUND, "host api-2 of the plan"},
		{"another plan", apply(t, bin, literal(all.String())), &other, "", crmplan.EINVALID, "not of \"client-server\""},
		{"via not in the DMZ", apply(t, bin, literal(all.String())), nil, "api-1", crmplan.EINVALID, "api-1 is no DMZ host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadInventory(context.Background(), InventoryRequest{Dir: tt.dir, Terraform: bin, Plan: tt.plan, Via: tt.via, KnownHosts: "kh"})
			if crmplan.ErrorCode(err) != tt.wantCode || !strings.Contains(fmt.Sprint(err), tt.wantMsg) || crmplan.ErrorHint(err) == "" {
				t.Fatalf("ReadInventory = %v (code %q, Try: %q); want %s with %q and a Try line", err, crmplan.ErrorCode(err), crmplan.ErrorHint(err), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestReadInventoryWithoutVPN: the inventory of seed 002's export, which
// has no vpn instance, fits the plan (the ssh target skips vpn-1), and its
// DMZ machines carry their private address beside the public one.
func TestReadInventoryWithoutVPN(t *testing.T) {
	bin := terraformBin(t)
	l := laid(t, "arint")
	dir := appliedOutputs(t, bin, generate(t, "arint"))
	inv, err := ReadInventory(context.Background(), InventoryRequest{Dir: dir, Terraform: bin, Plan: &l, KnownHosts: "kh"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inv.Machines["vpn-1"]; ok {
		t.Error("the inventory has a machine for vpn-1, which the export does not make")
	}
	for _, h := range l.Topology.Hosts {
		m, ok := inv.Machines[h.Name]
		if h.Role == topology.RoleVPN {
			continue
		}
		dmz := strings.HasPrefix(m.Address, "203.0.113.")
		if !ok || dmz != (m.Private != "") || (m.Private != "" && !strings.HasPrefix(m.Private, "10.40.")) {
			t.Errorf("host %s: machine %+v; want a DMZ one at its public address with private: beside it", h.Name, m)
		}
	}
}
