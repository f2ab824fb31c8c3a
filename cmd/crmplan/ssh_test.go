package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHTargetRefuses runs apply and preview --target ssh in-process with
// inputs that must be refused before any machine is dialled: every case
// stops at the flags or the inventory file, and the state dir stays empty.
func TestSSHTargetRefuses(t *testing.T) {
	plan := "../../examples/simplecrm.yaml"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noKnownHosts := write("no-known-hosts.yaml", "hosts:\n  web-1: {address: 10.20.1.10}\nssh:\n  key: k\n")
	badVia := write("bad-via.yaml", "hosts:\n  web-1: {address: 10.20.1.10}\n  api-1: {address: 10.20.2.10, via: web-9}\nssh:\n  known_hosts: kh\n")
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantHint string
	}{
		{"an inventory without the ssh target", []string{"apply", "--inventory", noKnownHosts}, "--inventory lists the ssh target's machines", "--target ssh"},
		{"the ssh target without an inventory", []string{"apply", "--target", "ssh"}, "needs an inventory", "--inventory machines.yaml"},
		{"no inventory file", []string{"apply", "--target", "ssh", "--inventory", filepath.Join(dir, "missing.yaml")}, "does not exist", "known_hosts"},
		{"no known_hosts", []string{"apply", "--target", "ssh", "--inventory", noKnownHosts}, "no-known-hosts.yaml:4: ssh.known_hosts: known_hosts is required", "known_hosts: ~/.ssh/known_hosts"},
		{"a via to no machine", []string{"apply", "--target", "ssh", "--inventory", badVia}, "bad-via.yaml:3: hosts.api-1.via", "via: one of"},
		{"packages off the ssh target", []string{"apply", "--install-packages"}, "--install-packages is the ssh target's", "--target ssh --inventory machines.yaml --install-packages"},
		{"isolate on the ssh target", []string{"apply", "--target", "ssh", "--isolate", "--inventory", badVia}, "--isolate is the local target's", "--target ssh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			args := append(append([]string{}, tt.args...), "--plan", plan, "--state-dir", state, "--yes")
			code, _, stderr := crmplanRun(t, args...)
			if code != exitUsage || !strings.Contains(stderr, tt.wantErr) || !strings.Contains(stderr, "Try: ") || !strings.Contains(stderr, tt.wantHint) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d with %q and a Try: with %q", code, stderr, exitUsage, tt.wantErr, tt.wantHint)
			}
			if entries, _ := os.ReadDir(state); len(entries) != 0 {
				t.Errorf("refused, yet the state dir has %v", entries)
			}
		})
	}
}
