package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The agent's commands are what a host's Receptor node runs; their exit
// code fails the unit and their stderr becomes the controller's error text.
func TestAgentCommands(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "status of a fresh host", args: []string{"agent", "status", "--host-dir", dir}, wantStdout: `"releases": []`},
		{name: "rollback with nothing to roll back to", args: []string{"agent", "rollback", "--host-dir", dir},
			wantCode: exitFailure, wantStderr: "no previous release"},
		{name: "restart of a role never started", args: []string{"agent", "restart", "--host-dir", dir, "--role", "api"},
			wantCode: exitFailure, wantStderr: "role api was never started"},
		{name: "install needs the digest", args: []string{"agent", "install", "--host-dir", dir, "--version", "v1"},
			wantCode: exitUsage, wantStderr: "sha256"},
		{name: "install with a bad digest", args: []string{"agent", "install", "--host-dir", dir, "--version", "v1", "--sha256", "abc"},
			wantCode: exitUsage, wantStderr: "64 hex digits"},
		{name: "kill on a host running nothing", args: []string{"agent", "kill", "--host-dir", dir}, wantStdout: `"programs": 0`},
		{name: "kill needs the host", args: []string{"agent", "kill"}, wantCode: exitUsage, wantStderr: "--host-dir is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := hostRun(t, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", stdout, tt.wantStdout, stderr, tt.wantStderr)
			}
		})
	}
	_, stdout, _ := hostRun(t, "agent", "status", "--host-dir", dir)
	var st struct{ Current string }
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Current != "" {
		t.Errorf("status is not JSON with an empty current release: %q, %v", stdout, err)
	}
}
