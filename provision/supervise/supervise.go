package supervise

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one long-running program on a local host, run under a
// supervisor (`crmplan supervise --spec FILE`) that restarts it when it
// crashes. The supervisor runs in its own session so that it outlives the
// crmplan (and Pulumi plugin) process that started it.
//
// Files of process NAME in host directory DIR:
//
//	DIR/NAME.spec.json   this struct (mode 0600: Env may hold secrets)
//	DIR/NAME.log         the program's stdout and stderr
//	DIR/NAME.state.json  written by the supervisor: pids, restarts, last exit
//	DIR/NAME.supervisor.log  the supervisor's own output
type Process struct {
	Name string   `json:"name"`
	Dir  string   `json:"dir"`
	Argv []string `json:"argv"`
	Env  []string `json:"env,omitempty"`
	// User runs the program as this system user (PostgreSQL as "postgres"
	// when crmplan runs as root). Empty: the supervisor's own user.
	User string `json:"user,omitempty"`
	// StopSignal asks the program to shut down: "SIGTERM" (default) or
	// "SIGINT" (PostgreSQL's fast shutdown).
	StopSignal string `json:"stop_signal,omitempty"`
}

// State is what the supervisor reports about its program.
type State struct {
	SupervisorPID int       `json:"supervisor_pid"`
	ChildPID      int       `json:"child_pid"`
	Restarts      int       `json:"restarts"`
	StartedAt     time.Time `json:"started_at"`
	LastExit      string    `json:"last_exit,omitempty"`
	Stopping      bool      `json:"stopping,omitempty"`
}

func (p Process) path(ext string) string { return filepath.Join(p.Dir, p.Name+ext) }

// SpecPath, LogPath, StatePath and SupervisorLogPath are the process's
// files in its host dir.
func (p Process) SpecPath() string          { return p.path(".spec.json") }
func (p Process) LogPath() string           { return p.path(".log") }
func (p Process) StatePath() string         { return p.path(".state.json") }
func (p Process) SupervisorLogPath() string { return p.path(".supervisor.log") }

// LogTail returns the last limit bytes of a log file (a Process's LogPath,
// a mesh node's log), trimmed, for error messages; "" when it cannot be
// read.
func LogTail(path string, limit int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-limit, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf))
}

// stopTimeout bounds a graceful stop before the process group is killed.
const stopTimeout = 15 * time.Second

// Start writes the spec and launches `self supervise --spec FILE` in a new
// session. Leftovers of an earlier supervisor of the same process (crmplan
// killed mid-apply, a supervisor killed with -9) are stopped first, so the
// new program can bind its port.
func (p Process) Start(self string) (int, error) {
	if err := p.Stop(); err != nil {
		return 0, err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(p.SpecPath(), data, 0o600); err != nil {
		return 0, fmt.Errorf("write %s: %w", p.SpecPath(), err)
	}
	_ = os.Remove(p.StatePath())
	logf, err := os.OpenFile(p.SupervisorLogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(self, "supervise", "--spec", p.SpecPath())
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start supervisor of %s: %w", p.Name, err)
	}
	pid := cmd.Process.Pid
	// Reap it if it exits while we still run; otherwise init adopts it.
	go func() { _ = cmd.Wait() }()
	return pid, nil
}

// ReadState returns what the supervisor last wrote.
func (p Process) ReadState() (State, error) {
	var st State
	data, err := os.ReadFile(p.StatePath())
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(data, &st)
}

// Running reports whether the supervisor of p is alive, and its pid.
func (p Process) Running() (int, bool) {
	st, err := p.ReadState()
	if err != nil || st.SupervisorPID == 0 {
		return 0, false
	}
	if !processAlive(st.SupervisorPID, "supervise") {
		return 0, false
	}
	return st.SupervisorPID, true
}

// Stop asks the supervisor to stop its program and waits; when that takes
// longer than stopTimeout, or the supervisor is gone but its program is not,
// the process group is killed. Stopping a process that is not running is
// not an error.
func (p Process) Stop() error {
	st, err := p.ReadState()
	if errors.Is(err, os.ErrNotExist) {
		// The host directory may have been deleted under a running
		// supervisor: find it by its command line.
		for _, pid := range supervisorsOf(p.SpecPath()) {
			killGroup(pid)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", p.StatePath(), err)
	}
	if st.SupervisorPID > 0 && processAlive(st.SupervisorPID, "supervise") {
		_ = syscall.Kill(st.SupervisorPID, syscall.SIGTERM)
		if !waitDead(st.SupervisorPID, stopTimeout) {
			killGroup(st.SupervisorPID)
		}
	}
	// An orphaned program (its supervisor was killed with -9) keeps the
	// supervisor's process group.
	if st.ChildPID > 0 && processAlive(st.ChildPID, filepath.Base(p.Argv[0])) {
		_ = syscall.Kill(st.ChildPID, syscall.SIGKILL)
		killGroup(st.SupervisorPID)
		if !waitDead(st.ChildPID, 5*time.Second) {
			return fmt.Errorf("process %s (pid %d) does not stop", p.Name, st.ChildPID)
		}
	}
	return nil
}

// killGroup kills process group pgid (a supervisor leads its own) and waits
// until none of its processes is left, so that their ports are free.
func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(groupMembers(pgid)) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
}

// groupMembers lists the live (not zombie) processes of process group pgid.
func groupMembers(pgid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// After "comm)": state ppid pgrp ...
		_, rest, ok := bytes.Cut(stat, []byte(") "))
		fields := strings.Fields(string(rest))
		if ok && len(fields) > 2 && !(fields[0] == "Z" && reaped(pid)) && fields[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processAlive reports whether pid exists and its command line mentions
// want, so that a recycled pid is not mistaken for ours.
func processAlive(pid int, want string) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// A zombie has exited already; only its parent's wait is missing.
		if _, rest, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(rest, "Z") && reaped(pid) {
			return false
		}
	}
	return strings.Contains(string(cmdline), want)
}

// reaped reports whether a zombie has released everything: a process whose
// main thread has exited shows as a zombie while its other threads still
// run and hold its files and sockets.
func reaped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err != nil || len(tasks) <= 1
}

// supervisorsOf lists the pids of `crmplan supervise --spec SPEC` processes.
func supervisorsOf(spec string) []int {
	want := []byte("supervise\x00--spec\x00" + spec + "\x00")
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(b, want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Exited reports whether pid has exited: there is no such process, or
// only a zombie that holds nothing any more.
func Exited(pid int) bool { return !processAlive(pid, "") }

func waitDead(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) || !processAlive(pid, "") {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Run runs the process described by the spec file until ctx ends or
// SIGTERM/SIGINT arrives, restarting it with backoff whenever it exits. It is
// the body of the hidden `crmplan supervise` command.
func Run(ctx context.Context, specPath string, logw io.Writer) error {
	p, err := Load(specPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st := State{SupervisorPID: os.Getpid(), StartedAt: time.Now().UTC()}
	backoff := 200 * time.Millisecond
	for {
		began := time.Now()
		exit, err := p.runOnce(ctx, &st)
		if err != nil {
			fmt.Fprintf(logw, "supervise %s: %v\n", p.Name, err)
		}
		if ctx.Err() != nil {
			st.Stopping, st.ChildPID = true, 0
			return p.writeState(st)
		}
		st.LastExit, st.ChildPID = exit, 0
		st.Restarts++
		_ = p.writeState(st)
		fmt.Fprintf(logw, "supervise %s: exited (%s), restart %d in %s\n", p.Name, exit, st.Restarts, backoff)
		if time.Since(began) > 30*time.Second {
			backoff = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return p.writeState(st)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Load reads the spec a supervisor runs (a Process's SpecPath).
func Load(specPath string) (Process, error) {
	var p Process
	data, err := os.ReadFile(specPath)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("spec %s: %w", specPath, err)
	}
	if len(p.Argv) == 0 {
		return p, fmt.Errorf("spec %s: no argv", specPath)
	}
	return p, nil
}

// runOnce starts the program, waits for it, and on cancellation stops it
// with its stop signal, then SIGKILL after stopTimeout.
func (p Process) runOnce(ctx context.Context, st *State) (string, error) {
	logf, err := os.OpenFile(p.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if p.User != "" {
		cred, err := lookupCredential(p.User)
		if err != nil {
			return "", err
		}
		cmd.SysProcAttr.Credential = cred
		_ = logf.Chown(int(cred.Uid), int(cred.Gid))
	}
	if err := cmd.Start(); err != nil {
		return "start: " + err.Error(), err
	}
	st.ChildPID = cmd.Process.Pid
	if err := p.writeState(*st); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitText(err), nil
	case <-ctx.Done():
	}
	sig := syscall.SIGTERM
	if p.StopSignal == "SIGINT" {
		sig = syscall.SIGINT
	}
	_ = cmd.Process.Signal(sig)
	select {
	case err := <-done:
		return exitText(err), nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		return exitText(<-done), nil
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// writeState replaces the state file atomically: readers never see half.
func (p Process) writeState(st State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := p.StatePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p.StatePath())
}

func lookupCredential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
