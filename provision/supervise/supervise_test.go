package supervise

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSupervisorRestartsAndStops runs a real program (sleep) under the
// supervisor (this test binary, as `crmplan supervise`): a crash is
// restarted with a new pid, Stop leaves nothing running, and a supervisor
// killed with -9 takes its program along.
func TestSupervisorRestartsAndStops(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	proc := Process{Name: "sleeper", Dir: t.TempDir(), Argv: []string{"/bin/sleep", "300"}}
	if _, err := proc.Start(self); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Stop() })
	first := waitState(t, proc, func(st State) bool { return st.ChildPID > 0 })
	if err := syscall.Kill(first.ChildPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := waitState(t, proc, func(st State) bool { return st.Restarts == 1 && st.ChildPID > 0 })
	if second.ChildPID == first.ChildPID || second.LastExit != "signal: killed" {
		t.Errorf("after a crash: %+v, want a new child and last exit \"signal: killed\"", second)
	}
	if _, ok := proc.Running(); !ok {
		t.Fatal("supervisor not running")
	}

	if err := proc.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := proc.Running(); ok || processAlive(second.ChildPID, "sleep") {
		t.Errorf("after Stop: supervisor or child %d still alive", second.ChildPID)
	}

	// kill -9 of the supervisor: the program dies with it (Pdeathsig), and
	// Running says so.
	if _, err := proc.Start(self); err != nil {
		t.Fatal(err)
	}
	third := waitState(t, proc, func(st State) bool { return st.ChildPID > 0 })
	_ = syscall.Kill(third.SupervisorPID, syscall.SIGKILL)
	if !waitDead(third.ChildPID, 5*time.Second) {
		t.Errorf("child %d outlived its supervisor killed with -9", third.ChildPID)
	}
	// The kernel tears a killed multi-threaded process down thread by
	// thread, so its child can be gone a moment before it is.
	deadline := time.Now().Add(5 * time.Second)
	for _, ok := proc.Running(); ok; _, ok = proc.Running() {
		if time.Now().After(deadline) {
			t.Error("Running still reports a supervisor killed with -9 after 5 s")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitState(t *testing.T, p Process, ok func(State) bool) State {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := p.ReadState(); err == nil && ok(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := p.ReadState()
	t.Fatalf("supervisor state %+v (%v) never matched", st, err)
	return st
}
