package pgserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBin is where Debian's postgresql-15 package puts the server programs.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// Superuser is the name of the bootstrap superuser of every server.
const Superuser = "postgres"

// ErrNotRunning is returned by operations that need a running server.
var ErrNotRunning = errors.New("postgresql is not running")

// Config describes a server to create with Init.
type Config struct {
	// Dir holds everything of the server: data/, postgres.log and
	// pgserver.json. It is created if missing.
	Dir string
	// Addr is host:port to listen on. An empty Addr, or port 0, picks a free
	// port (on 127.0.0.1 when the host is empty too).
	Addr string
	// Password of the superuser. Empty means trust authentication, which
	// pg_hba.conf grants only to the addresses in AllowCIDRs.
	Password string
	// Name is the cluster_name; a replica also reports it to its primary as
	// application_name, which synchronous_standby_names refers to.
	// Default: the base name of Dir.
	Name string
	// AllowCIDRs may connect (pg_hba.conf). Default: 127.0.0.0/8.
	AllowCIDRs []string
	// Settings are written into postgresql.conf, e.g. "shared_buffers": "256MB".
	Settings map[string]string
	// Bin is the directory of initdb, postgres and pg_basebackup. Default: DefaultBin.
	Bin string
	// Ephemeral trades durability for speed (initdb --no-sync, fsync=off):
	// for tests, never for data that must survive a crash.
	Ephemeral bool
	// StopWithParent makes the kernel stop the server when the process that
	// started it dies, so a killed test run leaves no server behind. Leave it
	// false for servers that must outlive their starter.
	StopWithParent bool
}

// Server is one PostgreSQL server (primary or replica) living in a directory.
// Its methods are safe to call from one goroutine at a time.
type Server struct {
	dir            string
	meta           meta
	stopWithParent bool
	// remote: a server on another host (Remote); it has no directory here.
	remote bool
	// exited is closed when the postgres process this Server started has been
	// reaped; nil when another process started it.
	exited chan struct{}
}

// meta is persisted in pgserver.json so that another process can Open the
// server later.
type meta struct {
	Name       string            `json:"name"`
	Host       string            `json:"host"`
	Port       int               `json:"port"`
	Password   string            `json:"password,omitempty"`
	AllowCIDRs []string          `json:"allow_cidrs"`
	Settings   map[string]string `json:"settings,omitempty"`
	Bin        string            `json:"bin"`
	// PickPort: the port was chosen by Init and may be chosen again if it is
	// taken when the server first starts.
	PickPort bool `json:"pick_port,omitempty"`
	Started  bool `json:"started,omitempty"`
	// Primary is the host:port a replica streams from.
	Primary string `json:"primary,omitempty"`
	// SyncStandbys are the names of replicas the primary waits for.
	SyncStandbys []string `json:"sync_standbys,omitempty"`
}

const metaFile = "pgserver.json"

// Init creates the server directory and runs initdb; it does not start the
// server. It fails if Dir already holds a data directory.
func Init(ctx context.Context, cfg Config) (*Server, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(s.DataDir()); err == nil {
		return nil, fmt.Errorf("pgserver: %s already holds a data directory; Open it or remove it", s.DataDir())
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	if err := s.initdb(ctx, cfg.Ephemeral); err != nil {
		return nil, err
	}
	if err := s.writeHBA(); err != nil {
		return nil, err
	}
	if err := s.writeConf(); err != nil {
		return nil, err
	}
	return s, s.saveMeta()
}

// newServer validates cfg and fills in defaults, choosing a port if needed.
func newServer(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pgserver: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	m := meta{Name: cfg.Name, Password: cfg.Password, AllowCIDRs: cfg.AllowCIDRs, Bin: cfg.Bin, Settings: map[string]string{}}
	if m.Name == "" {
		m.Name = filepath.Base(dir)
	}
	if len(m.AllowCIDRs) == 0 {
		m.AllowCIDRs = []string{"127.0.0.0/8"}
	}
	if m.Bin == "" {
		m.Bin = DefaultBin
	}
	if _, err := os.Stat(filepath.Join(m.Bin, "postgres")); err != nil {
		return nil, fmt.Errorf("pgserver: no PostgreSQL server in %s (install postgresql-15: make deps): %w", m.Bin, err)
	}
	if cfg.Ephemeral {
		for k, v := range map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"} {
			m.Settings[k] = v
		}
	}
	for k, v := range cfg.Settings {
		m.Settings[k] = v
	}
	if err := m.setAddr(cfg.Addr); err != nil {
		return nil, err
	}
	return &Server{dir: dir, meta: m, stopWithParent: cfg.StopWithParent}, nil
}

func (m *meta) setAddr(addr string) error {
	host, port := "127.0.0.1", "0"
	if addr != "" {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("pgserver: address %q: %w", addr, err)
		}
		if h != "" {
			host = h
		}
		port = p
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("pgserver: address %q: bad port", addr)
	}
	m.Host, m.Port = host, n
	if n == 0 {
		m.PickPort = true
		return m.pickPort()
	}
	return nil
}

// pickPort asks the kernel for a free port. Another process may take it
// before postgres binds it; Start then picks again.
func (m *meta) pickPort() error {
	l, err := net.Listen("tcp", net.JoinHostPort(m.Host, "0"))
	if err != nil {
		return fmt.Errorf("pgserver: no free port on %s: %w", m.Host, err)
	}
	defer l.Close()
	m.Port = l.Addr().(*net.TCPAddr).Port
	return nil
}

// Open returns the server that Init or BaseBackup created in dir, running
// or not.
func Open(dir string) (*Server, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, fmt.Errorf("pgserver: %s is not a server directory: %w", dir, err)
	}
	s := &Server{dir: dir}
	if err := json.Unmarshal(b, &s.meta); err != nil {
		return nil, fmt.Errorf("pgserver: %s: %w", filepath.Join(dir, metaFile), err)
	}
	return s, nil
}

func (s *Server) saveMeta() error {
	b, err := json.MarshalIndent(s.meta, "", "  ")
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	// 0600: it holds the superuser password.
	if err := os.WriteFile(filepath.Join(s.dir, metaFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

// Dir is the server directory; DataDir the PostgreSQL data directory in it.
func (s *Server) Dir() string     { return s.dir }
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// LogPath is the file that postgres writes its log to.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "postgres.log") }

// Name is the cluster_name (a replica's application_name).
func (s *Server) Name() string { return s.meta.Name }

// Addr is host:port the server listens on.
func (s *Server) Addr() string { return net.JoinHostPort(s.meta.Host, strconv.Itoa(s.meta.Port)) }

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.meta.Port }

// IsReplica reports whether the server streams from a primary.
func (s *Server) IsReplica() bool { return s.meta.Primary != "" }

// URL is a pgx/libpq connection URL for database db as the superuser.
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", Host: s.Addr(), Path: "/" + db, RawQuery: "sslmode=disable"}
	if s.meta.Password != "" {
		u.User = url.UserPassword(Superuser, s.meta.Password)
	} else {
		u.User = url.User(Superuser)
	}
	return u.String()
}

// PID returns the pid of the running postmaster, from postmaster.pid.
func (s *Server) PID() (int, bool) {
	b, err := os.ReadFile(filepath.Join(s.DataDir(), "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if !alive(pid) {
		return 0, false
	}
	return pid, true
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// CreateDatabase creates database name on a running primary.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	return s.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// Exec runs one SQL statement in database db as the superuser.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		return fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	return nil
}

// LogTail returns the last n bytes of the server log, for error messages.
func (s *Server) LogTail(n int64) string {
	f, err := os.Open(s.LogPath())
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, 0)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return string(b[:k])
}

// waitGone polls until pid no longer exists.
func waitGone(ctx context.Context, pid int, exited <-chan struct{}) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if exited != nil {
			select {
			case <-exited:
				return nil
			default:
			}
		} else if !alive(pid) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
