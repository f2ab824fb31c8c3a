package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestExport(t *testing.T) {
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Skip("no terraform binary on $PATH")
	}
	out := filepath.Join(t.TempDir(), "infra")
	code, stdout, stderr := crmplanRun(t, "export", "--plan", "../../examples/simplecrm.yaml", "--out", out, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res exportResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	// Seed 000 sizes to two web and two api servers, the database pair, ESB
	// and ETL, the marketing server and its database.
	if res.Resources["aws_instance"] != 10 || res.Check == nil || !res.Check.Formatted {
		t.Errorf("result = %+v, want 10 instances and a passed fmt check", res)
	}
	data, err := os.ReadFile(filepath.Join(out, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `resource "aws_instance" "db_replica_1"`) {
		t.Errorf("main.tf lacks the replica's instance:\n%s", data)
	}
}

// TestExportSaysWhatItSkips: seed 002's vpn host gets no instance (only
// the isolated target runs the role), and export says so in both outputs.
func TestExportSaysWhatItSkips(t *testing.T) {
	out := filepath.Join(t.TempDir(), "infra")
	code, stdout, stderr := crmplanRun(t, "export", "--plan", "../../examples/arint.yaml", "--out", out, "--check=false")
	if code != 0 || !strings.Contains(stdout, "skipped vpn-1: the vpn role runs only on the isolated target") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s\nwant a line saying vpn-1 was skipped and why", code, stdout, stderr)
	}
	code, stdout, stderr = crmplanRun(t, "export", "--plan", "../../examples/arint.yaml", "--out", out, "--check=false", "-o", "json")
	var res exportResult
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || len(res.Skipped) != 1 || res.Skipped[0].Host != "vpn-1" {
		t.Fatalf("exit %d, json %s, stderr %s: want skipped: [vpn-1]", code, stdout, stderr)
	}
}

func TestExportBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no plan", []string{"export"}, "--plan: no plan given"},
		{"unknown format", []string{"export", "--plan", "../../examples/simplecrm.yaml", "--format", "hcl"}, `unknown export format "hcl"`},
		{"validate without check", []string{"export", "--plan", "../../examples/simplecrm.yaml", "--check=false", "--validate"}, "--validate needs"},
		{"missing plan file", []string{"export", "--plan", "nope.yaml", "--check=false"}, "cannot read plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := crmplanRun(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "Try: ") {
				t.Errorf("exit %d, stderr %q; want exit %d with %q and a Try: hint", code, stderr, exitUsage, tt.want)
			}
		})
	}
}
