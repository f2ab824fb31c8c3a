package crmplan_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestLayers keeps the host side apart from the planning side. The agent
// and what it runs on a host (the supervisor, health checks, the wire
// types it shares with the mesh controller) are built into every host's
// crmplan, and must link no Pulumi and none of the planning packages; the
// report reads a stack's inventory through stackdir, not provision. An
// import that breaks this compiles fine, so only a test notices it.
func TestLayers(t *testing.T) {
	const mod = "github.com/crmplan/crmplan"
	// A pattern ending in /... denies the package and everything below it;
	// any other denies that package alone.
	hostSide := []string{"github.com/pulumi/...", mod + "/sizing/...", mod + "/topology/...",
		mod + "/provision", mod + "/provision/mesh", mod + "/loadgen/...", mod + "/reports/..."}
	tests := []struct {
		pkg  string
		deny []string
	}{
		// The binary the hosts run: the host side, and neither k6 (a
		// loadgen host runs crmplan's) nor a cloud SDK.
		{mod + "/cmd/crmplan-host", append([]string{"go.k6.io/...", "github.com/aws/...", "github.com/pulumi/pulumi-aws/..."}, hostSide...)},
		{mod + "/provision/mesh/agent", hostSide},
		{mod + "/provision/supervise", hostSide},
		{mod + "/provision/health", hostSide},
		{mod + "/provision/mesh/wire", hostSide},
		{mod + "/provision/watchdog", hostSide},
		{mod + "/latency", hostSide},
		{mod + "/provision/stackdir", []string{"github.com/pulumi/...", mod + "/provision"}},
		{mod + "/reports", []string{"github.com/pulumi/...", mod + "/provision"}},
	}
	args := []string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}
	for _, tt := range tests {
		args = append(args, tt.pkg)
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr(err))
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		deps[fields[0]] = fields[1:]
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.pkg, mod+"/"), func(t *testing.T) {
			if _, ok := deps[tt.pkg]; !ok {
				t.Fatalf("go list did not report %s", tt.pkg)
			}
			for _, d := range tt.deny {
				var hits []string
				for _, dep := range deps[tt.pkg] {
					if dep == strings.TrimSuffix(d, "/...") || strings.HasSuffix(d, "/...") && strings.HasPrefix(dep, strings.TrimSuffix(d, "...")) {
						hits = append(hits, dep)
					}
				}
				if len(hits) > 0 {
					t.Errorf("%s depends on %d package(s) of %s, first %s (go list -deps %s lists them all)",
						tt.pkg, len(hits), d, hits[0], tt.pkg)
				}
			}
		})
	}
}

func stderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
