package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/crmplan/crmplan/provision/target/ssh"
)

// appliedExport applies, with the real terraform, a module holding only
// the export's crmplan_inventory output with literal addresses (the
// machines of seed 000 without web-2 when short), and returns its
// directory.
func appliedExport(t *testing.T, bin string, withWeb2 bool) string {
	t.Helper()
	hosts := []string{
		`"web-1" = { zone = "dmz", zone_kind = "dmz", private_ip = "10.40.1.10", public_ip = "203.0.113.10" }`,
		`"api-1" = { zone = "lan", zone_kind = "lan", private_ip = "10.40.2.10" }`,
		`"api-2" = { zone = "lan", zone_kind = "lan", private_ip = "10.40.2.11" }`,
		`"db-primary-1" = { zone = "lan", zone_kind = "lan", private_ip = "10.40.2.20" }`,
		`"db-replica-1" = { zone = "lan", zone_kind = "lan", private_ip = "10.40.2.21" }`,
		`"integration-1" = { zone = "lan", zone_kind = "lan", private_ip = "10.40.2.30" }`,
		`"etl-1" = { zone = "lan", zone_kind = "lan", private_ip = "10.40.2.40" }`,
		`"marketing-1" = { zone = "dmz", zone_kind = "dmz", private_ip = "10.40.1.20", public_ip = "203.0.113.20" }`,
		`"marketing-db-1" = { zone = "lan", zone_kind = "lan", private_ip = "10.40.2.50" }`,
	}
	if withWeb2 {
		hosts = append(hosts, `"web-2" = { zone = "dmz", zone_kind = "dmz", private_ip = "10.40.1.11", public_ip = "203.0.113.11" }`)
	}
	src := "output \"crmplan_inventory\" {\n  value = {\n    plan = \"simplecrm\"\n    hosts = {\n      " +
		strings.Join(hosts, "\n      ") + "\n    }\n  }\n}\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.Init(context.Background(), tfexec.Backend(false)); err != nil {
		t.Fatal(err)
	}
	if err := tf.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInventoryFromTerraform(t *testing.T) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("no terraform binary on $PATH")
	}
	plan := "../../examples/simplecrm.yaml"
	dir := appliedExport(t, bin, true)
	out := filepath.Join(t.TempDir(), "machines.yaml")
	code, stdout, stderr := crmplanRun(t, "inventory", "--from-terraform", dir, "--plan", plan, "--out", out,
		"--user", "admin", "--key", "~/.ssh/id_ed25519", "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var res inventoryResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.File != out || res.Machines != 10 || res.Via["etl-1"] != "web-1" {
		t.Errorf("--output json = %s (%v), want file %s, 10 machines, etl-1 via web-1", stdout, err, out)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "inventory-simplecrm.yaml", strings.ReplaceAll(string(data), dir, "infra/"))
	if _, err := ssh.ParseInventory(out, data); err != nil {
		t.Errorf("apply --target ssh would refuse the written inventory: %v", err)
	}

	// The same to stdout, for a pipe.
	code, stdout, _ = crmplanRun(t, "inventory", "--from-terraform", dir, "--plan", plan, "--out", "-", "--user", "admin", "--key", "~/.ssh/id_ed25519")
	if code != exitOK || stdout != string(data) {
		t.Errorf("--out - exit %d printed\n%s\nwant what --out wrote", code, stdout)
	}
}

func TestInventoryFromTerraformRefuses(t *testing.T) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("no terraform binary on $PATH")
	}
	plan := "../../examples/simplecrm.yaml"
	empty := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
		wantHint string
	}{
		{"no directory", nil, exitUsage, "--from-terraform: no Terraform directory", "crmplan inventory --from-terraform infra/"},
		{"not a directory", []string{"--from-terraform", filepath.Join(empty, "nothing")}, exitUsage, "is no directory", "crmplan export"},
		{"no state", []string{"--from-terraform", empty}, exitFailure, "no outputs: no export was applied there", "terraform apply"},
		{"a host of the plan missing", []string{"--from-terraform", appliedExport(t, bin, false), "--plan", plan}, exitFailure,
			"host web-2 of the plan has no machine", "crmplan export --plan PLAN.yaml"},
		{"no known_hosts", []string{"--from-terraform", empty, "--known-hosts", ""}, exitUsage, "known_hosts is required", "ssh-keyscan"},
		{"bad output format", []string{"--from-terraform", empty, "--output", "xml"}, exitUsage, "unknown output format", "--output json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "machines.yaml")
			code, _, stderr := crmplanRun(t, append(append([]string{"inventory"}, tt.args...), "--out", out)...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) || !strings.Contains(stderr, "Try: ") || !strings.Contains(stderr, tt.wantHint) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d with %q and a Try: with %q", code, stderr, tt.wantCode, tt.wantErr, tt.wantHint)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("refused, yet the inventory was written")
			}
		})
	}
}
