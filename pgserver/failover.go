package pgserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Fence marks a primary that lost a failover so that it can never again
// start read-write: with standby.signal in its data directory postgres comes
// up in recovery, and without primary_conninfo it follows nobody, so it
// refuses every write. Fence does not stop a running server; the caller
// kills it after marking it, so that a supervisor restarting it in between
// already finds the mark. Rebuilding it (Rewind, or a new BaseBackup)
// replaces the mark.
func (s *Server) Fence() error {
	return s.writeOwned(filepath.Join(s.DataDir(), "standby.signal"), "")
}

// Fenced reports whether the server carries Fence's mark while it is no
// replica: it would start read-only.
func (s *Server) Fenced() bool {
	_, err := os.Stat(filepath.Join(s.DataDir(), "standby.signal"))
	return err == nil && !s.IsReplica()
}

// Follow points a replica at another primary (host:port), for the replicas
// left behind when a sibling was promoted. primary_conninfo is reloadable
// and recovery_target_timeline defaults to latest, so a running replica
// switches to the new primary's timeline without a restart.
func (s *Server) Follow(primaryAddr string) error {
	if !s.IsReplica() {
		return fmt.Errorf("pgserver %s: follow %s: not a replica", s.meta.Name, primaryAddr)
	}
	s.meta.Primary = primaryAddr
	return s.saveAndReload()
}

// AnswersAsPrimary is nil when the server accepts a connection and is not
// in recovery: it takes writes. The watchdog probes its primary with it;
// a replica's agent its upstream, for crmplan failover's checks.
func (s *Server) AnswersAsPrimary(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var recovering bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering); err != nil {
		return err
	}
	if recovering {
		return errors.New("in recovery: it is not a primary")
	}
	return nil
}

// Upstream is a handle on the primary a replica streams from, as the
// replica knows it (its address, and the superuser password the replica
// took over from it): what the replica's host may ask of its primary
// without the primary's files.
func (s *Server) Upstream() (*Server, error) {
	if !s.IsReplica() {
		return nil, fmt.Errorf("pgserver %s: not a replica: it has no upstream", s.meta.Name)
	}
	return Remote(s.meta.Primary, s.meta.Password, nil)
}

// WALPosition is how far a server's WAL goes, in bytes: what a replica has
// received or replayed, whichever is further, or a primary's insert
// position. Failover promotes the replica with the highest.
func (s *Server) WALPosition(ctx context.Context) (int64, error) {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return 0, fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	defer conn.Close(context.Background())
	var pos int64
	err = conn.QueryRow(ctx, `SELECT (CASE WHEN pg_is_in_recovery()
		THEN greatest(coalesce(pg_last_wal_receive_lsn(), '0/0'), coalesce(pg_last_wal_replay_lsn(), '0/0'))
		ELSE pg_current_wal_insert_lsn() END - '0/0'::pg_lsn)::bigint`).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	return pos, nil
}

// Rewind makes a stopped former primary a streaming replica of source, the
// replica promoted in its place, with pg_rewind: only the blocks that
// diverged after the promotion are copied back, instead of the whole
// database. It needs wal_log_hints (writeConf sets it), full_page_writes
// (Ephemeral turns it off) and the WAL since the divergence on source. pg_rewind's output is kept in pg_rewind.log.
// When Rewind fails the data directory may be half rewound: the caller
// falls back to a fresh BaseBackup.
func (s *Server) Rewind(ctx context.Context, source *Server) error {
	if pid, ok := s.PID(); ok {
		return fmt.Errorf("pgserver %s: rewind: still running as pid %d", s.meta.Name, pid)
	}
	// pg_rewind first finishes crash recovery of a server that was killed,
	// in single-user mode, which refuses to run with Fence's standby.signal.
	if err := os.Remove(filepath.Join(s.DataDir(), "standby.signal")); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("pgserver %s: rewind: %w", s.meta.Name, err)
	}
	// A promoted server writes its new timeline into pg_control at its
	// next checkpoint only; until then pg_rewind finds both on the same
	// timeline and rewinds nothing.
	if err := source.Exec(ctx, "postgres", "CHECKPOINT"); err != nil {
		return fmt.Errorf("pgserver %s: rewind: checkpoint the source: %w", s.meta.Name, err)
	}
	conninfo := fmt.Sprintf("host=%s port=%d user=%s dbname=postgres", source.meta.Host, source.meta.Port, Superuser)
	cmd, err := s.command(ctx, "pg_rewind", "-D", s.DataDir(), "--source-server="+conninfo, "--progress")
	if err != nil {
		return err
	}
	if source.meta.Password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+source.meta.Password)
	}
	out, err := cmd.CombinedOutput()
	_ = s.writeOwned(filepath.Join(s.dir, "pg_rewind.log"), string(out))
	if err != nil {
		return fmt.Errorf("pgserver %s: pg_rewind from %s: %w: %s", s.meta.Name, source.meta.Name, err, lastLines(string(out), 3))
	}
	// pg_rewind copied the source's configuration files: crmplan.conf is
	// rewritten from this server's own meta (its address, its name) with
	// the source's settings (hot standby stops when max_connections and
	// the like are below the primary's), and a replica waits for nobody.
	s.meta.Settings = maps.Clone(source.meta.Settings)
	if s.meta.Settings == nil {
		s.meta.Settings = map[string]string{}
	}
	delete(s.meta.Settings, "synchronous_standby_names")
	delete(s.meta.Settings, "synchronous_commit")
	s.meta.SyncStandbys = nil
	s.meta.Primary = source.Addr()
	if err := s.writeOwned(filepath.Join(s.DataDir(), "standby.signal"), ""); err != nil {
		return err
	}
	if err := s.writeHBA(); err != nil {
		return err
	}
	if err := s.writeConf(); err != nil {
		return err
	}
	return s.saveMeta()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
