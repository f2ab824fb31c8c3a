package pgserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// owner is the system user PostgreSQL runs as, or nil to run as ourselves.
type owner struct {
	uid, gid int
}

// runAs returns the postgres system user when we are root: postgres refuses
// to run as root.
func runAs() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root needs the postgres system user (install postgresql-15: make deps): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &owner{uid: uid, gid: gid}, nil
}

// chown gives path to the user PostgreSQL runs as.
func chown(path string) error {
	o, err := runAs()
	if err != nil || o == nil {
		return err
	}
	if err := os.Chown(path, o.uid, o.gid); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

// prepareDir creates the server directory, owned by the user PostgreSQL runs
// as, and checks that this user can reach it.
func (s *Server) prepareDir() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if err := chown(s.dir); err != nil {
		return err
	}
	o, err := runAs()
	if err != nil || o == nil {
		return err
	}
	for p := filepath.Dir(s.dir); ; p = filepath.Dir(p) {
		if err := checkPassable(p, o); err != nil {
			return err
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// checkPassable fails if user o may not enter directory p.
func checkPassable(p string, o *owner) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mode := st.Mode().Perm()
	switch {
	case mode&0o001 != 0,
		int(sys.Uid) == o.uid && mode&0o100 != 0,
		int(sys.Gid) == o.gid && mode&0o010 != 0:
		return nil
	}
	return fmt.Errorf("pgserver: the postgres user cannot enter %s (mode %v); run `chmod o+x %s` or choose a directory elsewhere", p, mode, p)
}

// command prepares a PostgreSQL program to run in its own session, as the
// postgres user when we are root.
func (s *Server) command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, filepath.Join(s.meta.Bin, name), args...)
	} else {
		cmd = exec.Command(filepath.Join(s.meta.Bin, name), args...)
	}
	cmd.Dir = s.dir
	cmd.Env = []string{"LC_ALL=C.UTF-8", "PATH=/usr/bin:/bin", "HOME=" + s.dir}
	// Setsid: the server outlives our process group (a shell's Ctrl-C, our exit).
	attr := &syscall.SysProcAttr{Setsid: true}
	if s.stopWithParent {
		attr.Pdeathsig = syscall.SIGQUIT
	}
	o, err := runAs()
	if err != nil {
		return nil, err
	}
	if o != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)}
	}
	cmd.SysProcAttr = attr
	return cmd, nil
}

// run runs a PostgreSQL program to completion and includes its output in
// the error.
func (s *Server) run(ctx context.Context, env []string, name string, args ...string) error {
	cmd, err := s.command(ctx, name, args...)
	if err != nil {
		return err
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgserver: %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *Server) initdb(ctx context.Context, ephemeral bool) error {
	args := []string{"-D", s.DataDir(), "-U", Superuser, "-E", "UTF8", "--locale=C.UTF-8", "--auth=trust", "--no-instructions"}
	if ephemeral {
		args = append(args, "--no-sync")
	}
	if s.meta.Password != "" {
		pw := filepath.Join(s.dir, ".pwfile")
		if err := os.WriteFile(pw, []byte(s.meta.Password+"\n"), 0o600); err != nil {
			return fmt.Errorf("pgserver: %w", err)
		}
		defer os.Remove(pw)
		if err := chown(pw); err != nil {
			return err
		}
		args = append(args, "--pwfile="+pw)
	}
	return s.run(ctx, nil, "initdb", args...)
}

// writeHBA replaces pg_hba.conf: TCP only, from AllowCIDRs, for normal and
// replication connections.
func (s *Server) writeHBA() error {
	method := "trust"
	if s.meta.Password != "" {
		method = "scram-sha-256"
	}
	var b strings.Builder
	b.WriteString("# written by crmplan pgserver\n")
	for _, cidr := range s.meta.AllowCIDRs {
		fmt.Fprintf(&b, "host all all %s %s\nhost replication all %s %s\n", cidr, method, cidr, method)
	}
	return s.writeOwned(filepath.Join(s.DataDir(), "pg_hba.conf"), b.String())
}

func (s *Server) writeOwned(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return chown(path)
}

// RandomPassword returns a password fit for Config.Password.
func RandomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start starts postgres and waits until it accepts connections (for a
// replica: until it is consistent enough for read-only queries).
func (s *Server) Start(ctx context.Context) error {
	if pid, ok := s.PID(); ok {
		return fmt.Errorf("pgserver %s: already running as pid %d", s.meta.Name, pid)
	}
	for attempt := 0; ; attempt++ {
		err := s.start(ctx)
		if err == nil {
			if !s.meta.Started {
				s.meta.Started = true
				return s.saveMeta()
			}
			return nil
		}
		// Another process may have taken the port Init picked.
		if !s.meta.PickPort || s.meta.Started || attempt >= 4 || !strings.Contains(s.LogTail(2048), "could not bind") {
			return err
		}
		if err := s.meta.pickPort(); err != nil {
			return err
		}
		if err := s.writeConf(); err != nil {
			return err
		}
	}
}

func (s *Server) start(ctx context.Context) error {
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	defer logf.Close()
	if err := chown(s.LogPath()); err != nil {
		return err
	}
	// No CommandContext: ctx bounds the wait, not the server's life.
	cmd, err := s.command(nil, "postgres", "-D", s.DataDir())
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		if s.stopWithParent {
			// Linux sends the parent-death signal when the *thread* that
			// forked the server ends, not the process. Go ends a thread
			// whenever a goroutine exits locked to it (the netns adapter's
			// throwaway threads do, in the same test binary), so a server
			// forked from an ordinary goroutine got SIGQUIT at a random
			// moment. Fork from a thread of our own that lives as long
			// as the server does.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait() // reap it, so that a stopped server is not a zombie
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	s.exited = exited
	if err := s.waitReady(ctx, exited); err != nil {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-exited
		return err
	}
	return nil
}

// WaitReady waits until the running server accepts queries.
func (s *Server) WaitReady(ctx context.Context) error {
	return s.waitReady(ctx, s.exited)
}

func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.ping(cctx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgserver %s: not ready: %w (last error: %v); log %s:\n%s", s.meta.Name, ctx.Err(), last, s.LogPath(), s.LogTail(2048))
		case <-exited:
			return fmt.Errorf("pgserver %s: postgres exited; log %s:\n%s", s.meta.Name, s.LogPath(), s.LogTail(2048))
		case <-tick.C:
		}
	}
}

// ping checks that the server answers and that it is this server, not
// another one on the same port.
func (s *Server) ping(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var dir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir); err != nil {
		return err
	}
	if dir != s.DataDir() {
		return fmt.Errorf("%s is served by another server (data directory %s)", s.Addr(), dir)
	}
	return nil
}

// Stop shuts the server down (fast shutdown: open transactions roll back)
// and waits until it is gone. Stopping a stopped server is not an error.
// When ctx ends first, the server is told to quit immediately.
func (s *Server) Stop(ctx context.Context) error {
	pid, ok := s.PID()
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("pgserver %s: stop pid %d: %w", s.meta.Name, pid, err)
	}
	exited := s.exited
	if err := waitGone(ctx, pid, exited); err != nil {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = waitGone(wctx, pid, exited)
		return fmt.Errorf("pgserver %s: fast shutdown did not finish: %w", s.meta.Name, err)
	}
	return nil
}

// Reload makes a running server re-read its configuration files.
func (s *Server) Reload() error {
	pid, ok := s.PID()
	if !ok {
		return fmt.Errorf("pgserver %s: reload: %w", s.meta.Name, ErrNotRunning)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("pgserver %s: reload: %w", s.meta.Name, err)
	}
	return nil
}

// Remove stops the server and deletes its directory.
func (s *Server) Remove(ctx context.Context) error {
	if err := s.Stop(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}
