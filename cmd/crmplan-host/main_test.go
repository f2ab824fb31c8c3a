package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// hostRun runs crmplan-host in-process with args and returns its exit code
// and output.
func hostRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return hostRunIn(t, "", args...)
}

// hostRunIn is hostRun with stdin, a unit's payload.
func hostRunIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"crmplan-host"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// A loadgen host without crmplan beside crmplan-host has no k6: the unit
// says so, and what to install, instead of failing to start a process.
func TestLoadWithoutK6(t *testing.T) {
	t.Setenv("CRMPLAN_K6", "")
	code, _, stderr := hostRunIn(t, `{"script": "export default function () {}"}`, "agent", "load", "--host-dir", t.TempDir())
	if code != exitFailure || !strings.Contains(stderr, "no k6 on this host") || !strings.Contains(stderr, "Try: install crmplan next to") {
		t.Errorf("agent load without crmplan beside it: exit %d\n%s", code, stderr)
	}
}

// Usage errors exit 2 with a hint; the commands a host runs are listed.
func TestHostUsage(t *testing.T) {
	code, _, stderr := hostRun(t, "agent", "status")
	if code != exitUsage || !strings.Contains(stderr, "--host-dir is required") {
		t.Errorf("agent status without --host-dir: exit %d\n%s", code, stderr)
	}
	code, stdout, _ := hostRun(t, "--help")
	for _, want := range []string{"agent", "supervise", "watchdog", "guard"} {
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("--help: exit %d, want %q listed\n%s", code, want, stdout)
		}
	}
}
