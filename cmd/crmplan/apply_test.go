package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
)

// TestDeployCommandErrors runs preview, apply, status and destroy in-process
// with inputs that must be refused before anything is provisioned.
func TestDeployCommandErrors(t *testing.T) {
	// The postgres user must pass through the state dir's parents when we
	// run as root; t.TempDir's parent lets nobody else in.
	stateDir := t.TempDir()
	for _, dir := range []string{filepath.Dir(stateDir), stateDir} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
		wantHint string
	}{
		{"apply without a plan", []string{"apply", "--state-dir", stateDir}, exitUsage, "--plan: a plan file is needed", "crmplan apply --plan"},
		{"preview without a plan", []string{"preview", "--state-dir", stateDir}, exitUsage, "a plan file is needed", "crmplan preview --plan"},
		{"status without plan or stack", []string{"status", "--state-dir", stateDir}, exitUsage, "a plan file is needed", "--plan"},
		{"unknown output", []string{"status", "--stack", "x", "--state-dir", stateDir, "--output", "xml"}, exitUsage, `unknown output format "xml"`, "--output json"},
		{"bad records", []string{"apply", "--plan", "../../examples/simplecrm.yaml", "--state-dir", stateDir, "--records", "lots"}, exitUsage, "--records", "--records 1000"},
		{"records neither a count nor full", []string{"preview", "--plan", "../../examples/simplecrm.yaml", "--state-dir", stateDir, "--records", "ful"}, exitUsage,
			"or full for the plan's workload.records", "--records full"},
		{"missing plan file", []string{"apply", "--plan", "nope.yaml", "--state-dir", stateDir}, exitUsage, "cannot read plan", "--plan examples/simplecrm.yaml"},
		{"status of a stack never applied", []string{"status", "--stack", "ghost", "--state-dir", stateDir}, exitFailure, `stack "ghost" is not deployed`, "crmplan apply"},
		{"crm binary missing", []string{"preview", "--plan", "../../examples/simplecrm.yaml", "--state-dir", stateDir, "--crm", "/nonexistent/crm"}, exitFailure, "/nonexistent/crm", "make build"},
	}
	if os.Geteuid() == 0 {
		parent, err := os.MkdirTemp("", "crmplan-private-") // mode 0700
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(parent) })
		private := filepath.Join(parent, "state")
		tests = append(tests, struct {
			name     string
			args     []string
			wantCode int
			wantErr  string
			wantHint string
		}{"root with a state dir postgres cannot reach", []string{"apply", "--plan", "../../examples/simplecrm.yaml", "--state-dir", private},
			exitUsage, "cannot pass through", "--state-dir /var/lib/crmplan"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"crmplan"}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantErr)
			}
			if !strings.Contains(stderr.String(), "Try: ") || !strings.Contains(stderr.String(), tt.wantHint) {
				t.Errorf("stderr %q has no hint with %q", stderr.String(), tt.wantHint)
			}
		})
	}
}

func TestConfirm(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  bool
	}{
		{"yes", "yes\n", true},
		{"y with spaces", "  Y \n", true},
		{"no", "n\n", false},
		{"just enter", "\n", false},
		{"end of input", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompt bytes.Buffer
			got := confirm(strings.NewReader(tt.input), &prompt)("2 created")
			if got != tt.want {
				t.Errorf("confirm(%q) = %v, want %v", tt.input, got, tt.want)
			}
			if !strings.Contains(prompt.String(), "2 created") || !strings.Contains(prompt.String(), "[y/N]") {
				t.Errorf("prompt %q lacks the summary or [y/N]", prompt.String())
			}
		})
	}
}

// TestStatusUnhealthy: status reports a host whose process is gone and
// exits non-zero, in the table and in JSON.
func TestStatusUnhealthy(t *testing.T) {
	stateDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there any more
	inv := stackdir.Inventory{Stack: "s", Target: "local", WebURL: "http://127.0.0.1:1",
		Hosts: []stackdir.InventoryHost{{Name: "api-1", Role: "api", Zone: "lan", Address: "127.0.0.1", Port: port, Dir: t.TempDir()}}}
	if err := stackdir.SaveInventory(stateDir, inv); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"crmplan", "status", "--stack", "s", "--state-dir", stateDir, "--output", format}, &stdout, &stderr)
		if code != exitFailure || !strings.Contains(stderr.String(), "1 of 1 hosts unhealthy: api-1") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and api-1 named", format, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "api-1") {
			t.Errorf("%s: stdout %q does not show api-1", format, stdout.String())
		}
	}
}
