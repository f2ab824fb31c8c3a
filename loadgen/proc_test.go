package loadgen

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestProcCPUCountsChildren: a child that burns CPU shows up in its
// parent's figure, as PostgreSQL backends do in the postmaster's.
func TestProcCPUCountsChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// sh is the parent; the busy loop runs in a child subshell.
	cmd := exec.Command("sh", "-c", "(while :; do :; done) & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stopWithChildren(cmd)
	before, err := procCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	after, err := procCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// The shell itself only waits: the CPU is the child's. Even on a busy
	// machine the loop gets a good share of 1.5 s.
	if after-before < 0.1 {
		t.Errorf("CPU grew by %.2f s in 1.5 s of a busy child; children are not counted", after-before)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}

// stopWithChildren kills the busy child (found by its parent pid) and then
// the shell, each by its own pid.
func stopWithChildren(cmd *exec.Cmd) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.ppid == cmd.Process.Pid {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}
