package main

import (
	"os/exec"
	"testing"
)

// TestSharedSimpleCRM applies seed 000 (examples/simplecrm.yaml as it is)
// once, then runs on that one stack, one after the other, the tests that
// used to apply it each for themselves: each step still makes all its own
// checks, and only the apply from nothing and the destroy are shared
// (TestApplySimpleCRM checks applies killed or interrupted half-way and
// destroy). The first step checks what the first apply deployed and that
// the next changes nothing. The order is that of what each step leaves
// behind: the scaling
// ends where it began; the rolling deploy leaves the new build, which the
// applies after it then deploy; the failover leaves the roles swapped and
// the old primary rebuilt as a streaming replica; the chaos kill leaves
// api-1 down, so it comes last. A step that fails ends the test unless
// crmplan status finds every host healthy after it.
func TestSharedSimpleCRM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL, Receptor and k6")
	}
	t.Parallel()
	// Before newDeployEnv: its cleanup's destroy (with the new build's
	// --crm once the rolling deploy ran) comes before this dir's removal.
	crmDir := t.TempDir()
	e := newDeployEnv(t)
	plan := examplePlan(t, "simplecrm")
	res, took := e.apply(plan)
	t.Logf("BENCH mesh first apply %.1fs", took.Seconds())

	// Built before the steps: go build beside a stack under k6 would take
	// the cores from it.
	crm2 := buildCrm(t, crmDir, "2.0.0-rolling")
	steps := []struct {
		name string
		run  func(t *testing.T, e *deployEnv)
	}{
		{"FirstApply", func(t *testing.T, e *deployEnv) { firstApplyChecks(t, e, plan, res) }},
		{"ScaleUnderLoad", func(t *testing.T, e *deployEnv) { scaleStackUnderLoad(t, e, "simplecrm", plan, res) }},
		{"RollingDeployOverMesh", func(t *testing.T, e *deployEnv) { rollingDeployOverMesh(t, e, plan, crm2) }},
		{"Failover", func(t *testing.T, e *deployEnv) { failoverAndRebuild(t, e, plan) }},
		{"ChaosKillAPIServer", func(t *testing.T, e *deployEnv) { chaosKillAPIServer(t, e, plan) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, e.in(t)) }) {
			// A failed check (a request lost under load, say) may leave
			// the stack as the next step needs it: status tells.
			if out, err := e.exec("status", "--stack", "simplecrm"); err != nil {
				t.Fatalf("%s failed and left the stack unhealthy: the steps after it are not run\n%s", s.name, out)
			}
			t.Logf("%s failed, but every host is healthy: the steps after it run", s.name)
		}
		if s.name == "RollingDeployOverMesh" {
			e.args = withCrm(e.args, crm2) // the stack runs the new build now
		}
	}

	if out, err := e.exec("destroy", "--plan", plan, "--yes"); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	if out, _ := exec.Command("pgrep", "-f", "receptor --config "+e.stateDir).Output(); len(out) > 0 {
		t.Errorf("receptor nodes still run after destroy: pids %s", out)
	}
}
