// Package kv is the key-value store role (crm kv, seed 002's ARKVD): a
// real Redis (Debian's redis-server), run as a child on a unix socket in
// the host directory with a password, and fronted on the role's port.
// Redis clients are spliced through unchanged, so Redis itself enforces
// AUTH; HTTP GET and HEAD (no Redis client opens that way: they send
// RESP arrays, "*") are answered by crm, so the role is health-checked
// and scraped like every other. The integrators keep their shared state
// here (Client).
package kv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/serve"
)

// MinPasswordLen is the shortest password the store takes: Redis answers
// AUTH attempts as fast as they come, so a short one can be guessed.
const MinPasswordLen = 16

// Config is one Redis.
type Config struct {
	Binary   string // redis-server; default from $PATH
	Dir      string // data directory (dump and append-only file, the socket); relative to the working directory
	Password string // requirepass: every client must AUTH with it
	MemoryMB int    // maxmemory; default 64
	Log      *slog.Logger
}

// Server is the running redis-server.
type Server struct {
	cfg    Config
	cmd    *exec.Cmd
	done   chan error
	client *redis.Client // over the socket, for readiness
}

// Socket is the unix socket Redis listens on, relative like cfg.Dir: a
// socket path is limited to 108 bytes, a state dir is not.
func (c Config) Socket() string { return filepath.Join(c.Dir, "redis.sock") }

// Start writes Redis's configuration (0600: it holds the password), runs
// redis-server and waits until it answers PING.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if len(cfg.Password) < MinPasswordLen {
		return nil, app.Errorf(app.EINVALID, "the store's password must be at least %d characters, got %d", MinPasswordLen, len(cfg.Password)).In("CRM_SERVICE_KEY")
	}
	if cfg.Binary == "" {
		cfg.Binary = "redis-server"
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 64
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (apt-get install redis-server, or pass --redis-server): %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(cfg.Socket()) // left by a killed run: Redis will not bind over it
	conf := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(configText(cfg, dir)), 0o600); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, cmd: exec.Command(bin, conf), done: make(chan error, 1)}
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive crm kv
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	s.client = redis.NewClient(&redis.Options{Network: "unix", Addr: cfg.Socket(), Password: cfg.Password,
		MaxRetries: -1, PoolSize: 2, DialTimeout: time.Second, ReadTimeout: time.Second})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Ready(ctx)
		if err == nil {
			return s, nil
		}
		select {
		case werr := <-s.done:
			return nil, fmt.Errorf("redis-server exited at start: %v", werr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server did not answer on %s: %w", cfg.Socket(), err)
		}
	}
}

// configText is redis.conf: no TCP port (the front owns the role's port),
// the socket and data in dir, every write in the append-only file fsynced
// each second (the integrators' state survives a restart of the role), and
// the commands no client of the stack needs renamed away.
func configText(cfg Config, dir string) string {
	lines := []string{
		"port 0",
		"unixsocket redis.sock", // relative to dir: Redis changes into it first
		"unixsocketperm 700",
		"dir " + dir,
		"daemonize no",
		`logfile ""`,
		"appendonly yes",
		"appendfsync everysec",
		fmt.Sprintf("maxmemory %dmb", cfg.MemoryMB),
		"maxmemory-policy noeviction", // state, not a cache: refuse writes rather than drop keys
		"requirepass " + cfg.Password,
	}
	for _, c := range []string{"FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "SHUTDOWN", "MODULE", "REPLICAOF", "SLAVEOF"} {
		lines = append(lines, `rename-command `+c+` ""`)
	}
	return strings.Join(lines, "\n") + "\n"
}

// Done is sent Redis's exit.
func (s *Server) Done() <-chan error { return s.done }

// Stop ends Redis; SIGTERM makes it write its append-only file first.
func (s *Server) Stop() {
	_ = s.client.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
}

// Ready pings Redis with the password.
func (s *Server) Ready(ctx context.Context) error {
	return s.client.Ping(ctx).Err()
}

// Front serves the role's port: HTTP to h, anything else spliced to
// Redis's socket.
type Front struct {
	Socket string
	HTTP   http.Handler
	Log    *slog.Logger
}

// Serve accepts on l until ctx ends.
func (f *Front) Serve(ctx context.Context, l net.Listener) error {
	return serve.Split(ctx, l, f.HTTP, f.Log, f.splice)
}

// splice copies bytes both ways between a client and Redis until either
// closes. Redis checks the password and every command itself.
func (f *Front) splice(c net.Conn) {
	defer c.Close()
	rc, err := net.Dial("unix", f.Socket)
	if err != nil {
		f.Log.Warn("redis unreachable", "err", err)
		_, _ = io.WriteString(c, "-ERR redis unavailable\r\n")
		return
	}
	defer rc.Close()
	errc := make(chan error, 2)
	go func() { _, err := io.Copy(rc, c); errc <- err }()
	go func() { _, err := io.Copy(c, rc); errc <- err }()
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		f.Log.Debug("kv connection ended", "err", err)
	}
}
