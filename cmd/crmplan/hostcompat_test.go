package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A host whose mesh node an older crmplan configured runs `crmplan agent
// VERB`: crmplan hands it to crmplan-host beside it, and says what to do
// when there is none.
func TestHostCompat(t *testing.T) {
	// In-process, the test binary has no crmplan-host beside it.
	code, _, stderr := crmplanRun(t, "agent", "status", "--host-dir", t.TempDir())
	if code != exitFailure || !strings.Contains(stderr, "crmplan-host") || !strings.Contains(stderr, "Try: make build") {
		t.Errorf("crmplan agent without crmplan-host beside it: exit %d\n%s", code, stderr)
	}
	if testing.Short() {
		t.Skip("builds crmplan and crmplan-host")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	out, err := exec.Command(filepath.Join(bin, "crmplan"), "agent", "status", "--host-dir", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"releases": []`) {
		t.Errorf("crmplan agent status through crmplan-host: %v\n%s", err, out)
	}
	rollback := exec.Command(filepath.Join(bin, "crmplan"), "agent", "rollback", "--host-dir", dir)
	out, _ = rollback.CombinedOutput()
	if code := rollback.ProcessState.ExitCode(); code != exitFailure || !strings.Contains(string(out), "no previous release") {
		t.Errorf("crmplan agent rollback through crmplan-host: exit %d, want %d with crmplan-host's error\n%s", code, exitFailure, out)
	}
}
