package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
)

// Processes launches Receptor nodes as processes of this machine: the
// controller's node on every target, and every host's on the loopback
// target. Prefix, when set, runs receptor through a command (for instance
// one that enters a network namespace).
type Processes struct {
	Prefix []string
}

var _ NodeLauncher = Processes{}

// Start launches `receptor --config FILE` for n in its own session, so that
// the node outlives the crmplan process that started it, with its output
// in the node's log and its pid in the node's pid file.
func (p Processes) Start(ctx context.Context, n Node) error {
	// A node whose directory went behind crmplan's back (its pid file
	// with it) may still run: it would run forever beside this one.
	if err := ReapOrphans(n); err != nil {
		return err
	}
	// The host directory above the node's, if it went too, is made again
	// 0755 as the target makes it (PostgreSQL, running as its own user,
	// passes through it); MkdirAll would make it 0700 with the node's.
	if err := os.MkdirAll(filepath.Dir(n.Dir), 0o755); err != nil {
		return err
	}
	for _, d := range []string{n.Dir, n.DataDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// A stale socket of a killed node would make receptor's listen fail.
	_ = os.Remove(n.SocketPath())
	cfg, err := os.ReadFile(n.ConfigPath())
	if err != nil {
		return err
	}
	// The copy beside the config says which config the running node has.
	if err := renameio.WriteFile(n.ConfigPath()+".running", cfg, 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	argv := append(append([]string(nil), p.Prefix...), n.Receptor, "--config", n.ConfigPath())
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start receptor node %s: %w", n.ID, err)
	}
	// Reap it should it exit while we run (init adopts it after), and say
	// how it ended in its log: a signal leaves no other trace.
	go func() {
		_ = cmd.Wait()
		if f, ferr := os.OpenFile(n.LogPath(), os.O_WRONLY|os.O_APPEND, 0o600); ferr == nil {
			fmt.Fprintf(f, "crmplan: receptor exited: %v\n", cmd.ProcessState)
			f.Close()
		}
	}()
	return renameio.WriteFile(n.PIDPath(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// Running returns the pid of n's receptor process when it is alive and
// runs n's config, so that a recycled pid is never mistaken for it.
func (Processes) Running(n Node) (int, bool) {
	data, err := os.ReadFile(n.PIDPath())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	// While a process is in execve its cmdline reads empty: wait that out.
	var cmdline []byte
	for range 100 {
		if cmdline, err = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || len(cmdline) > 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err != nil || !strings.Contains(string(cmdline), n.ConfigPath()) {
		return 0, false
	}
	if !alive(pid) {
		return 0, false
	}
	return pid, true
}

// Stop ends n if it runs: SIGTERM, then SIGKILL after two seconds.
// Receptor keeps no state that a kill could corrupt beyond unfinished work
// units.
func (p Processes) Stop(n Node) error {
	pid, ok := p.Running(n)
	if !ok {
		return nil
	}
	if err := StopPID(pid); err != nil {
		return fmt.Errorf("node %s: %w", n.ID, err)
	}
	_ = os.Remove(n.PIDPath())
	return nil
}

// Kill sends n's receptor SIGKILL and waits until it is gone. Its pid
// file stays, as a power loss leaves it: Running checks the process.
func (p Processes) Kill(n Node) error {
	pid, ok := p.Running(n)
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("node %s: %w", n.ID, err)
	}
	for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: receptor (pid %d) outlives SIGKILL", n.ID, pid)
		}
	}
	return nil
}

// StopPID ends a process: SIGTERM, then SIGKILL after two seconds.
func StopPID(pid int) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for _, wait := range []time.Duration{2 * time.Second, 5 * time.Second} {
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if !alive(pid) {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return fmt.Errorf("receptor (pid %d) does not stop", pid)
}

// alive says whether pid runs and is no zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// ReapOrphans ends every receptor that runs n's config but is not known
// by n's pid file (its directory was removed under it), found by its
// command line: the nodes Processes starts are this machine's processes,
// whatever network namespace they entered.
func ReapOrphans(n Node) error {
	known, _ := Processes{}.Running(n)
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	want := "--config\x00" + n.ConfigPath() + "\x00"
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == known || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), want) {
			continue
		}
		if err := StopPID(pid); err != nil {
			return fmt.Errorf("orphaned receptor node %s (pid %d): %w", n.ID, pid, err)
		}
	}
	return nil
}
