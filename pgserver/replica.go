package pgserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReplicaOptions tune BaseBackup.
type ReplicaOptions struct {
	// Sync makes the primary wait, on every commit, until this replica has
	// applied it (synchronous_standby_names + synchronous_commit=remote_apply).
	// The default is asynchronous streaming.
	Sync bool
}

// BaseBackup creates a streaming replica of a running primary in cfg.Dir
// with pg_basebackup, starts it and waits until it serves read-only queries.
// The replica shares the primary's superuser password and pg_hba.conf, so
// cfg.Password and cfg.AllowCIDRs are ignored; of a Remote primary only the
// password is known, and cfg.AllowCIDRs holds.
func BaseBackup(ctx context.Context, primary *Server, cfg Config, opts ReplicaOptions) (*Server, error) {
	if _, ok := primary.PID(); !ok && !primary.remote {
		return nil, fmt.Errorf("pgserver: base backup of %s: %w", primary.Name(), ErrNotRunning)
	}
	if opts.Sync && primary.remote {
		return nil, fmt.Errorf("pgserver: base backup of %s: Sync needs the primary's directory; configure the remote primary on its own host", primary.Name())
	}
	cfg.Password = primary.meta.Password
	if !primary.remote {
		cfg.AllowCIDRs = primary.meta.AllowCIDRs
	}
	if cfg.Bin == "" {
		cfg.Bin = primary.meta.Bin
	}
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	s.meta.Primary = primary.Addr()
	if _, err := os.Stat(s.DataDir()); err == nil {
		return nil, fmt.Errorf("pgserver: %s already holds a data directory; Open it or remove it", s.DataDir())
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	args := []string{"-D", s.DataDir(), "-h", primary.meta.Host, "-p", fmt.Sprint(primary.meta.Port),
		"-U", Superuser, "-X", "stream", "--checkpoint=fast", "--no-password"}
	if cfg.Ephemeral {
		args = append(args, "--no-sync")
	}
	var env []string
	if s.meta.Password != "" {
		env = append(env, "PGPASSWORD="+s.meta.Password)
	}
	if err := s.run(ctx, env, "pg_basebackup", args...); err != nil {
		return nil, err
	}
	if err := s.writeOwned(filepath.Join(s.DataDir(), "standby.signal"), ""); err != nil {
		return nil, err
	}
	if err := s.writeConf(); err != nil {
		return nil, err
	}
	if err := s.saveMeta(); err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	if opts.Sync {
		// Only now: a primary that waits for a replica not yet streaming
		// would block every commit.
		primary.meta.SyncStandbys = append(primary.meta.SyncStandbys, s.meta.Name)
		if err := primary.Configure(nil); err != nil {
			_ = s.Stop(ctx)
			return nil, err
		}
		if err := primary.waitSync(ctx, s.meta.Name); err != nil {
			_ = s.Stop(ctx)
			return nil, err
		}
	}
	return s, nil
}

// WaitSync waits until the primary has reloaded its configuration and
// treats the replica named name as synchronous.
func (s *Server) WaitSync(ctx context.Context, name string) error { return s.waitSync(ctx, name) }

// waitSync waits until the primary has reloaded its configuration and
// treats replica name as synchronous, so that the next commit waits for it.
func (s *Server) waitSync(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	defer conn.Close(context.Background())
	for {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT current_setting('synchronous_commit') = 'remote_apply'
			AND EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND sync_state IN ('sync', 'quorum'))`, name).Scan(&ok)
		if err != nil {
			return fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgserver %s: replica %s did not become synchronous: %w", s.meta.Name, name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Promote turns a replica into a primary and waits until it accepts writes.
func (s *Server) Promote(ctx context.Context) error {
	if !s.IsReplica() {
		return fmt.Errorf("pgserver %s: promote: not a replica", s.meta.Name)
	}
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver %s: promote: %w", s.meta.Name, err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&ok); err != nil || !ok {
		return fmt.Errorf("pgserver %s: promote did not finish: %v", s.meta.Name, err)
	}
	s.meta.Primary = ""
	if err := s.writeConf(); err != nil {
		return err
	}
	return s.saveMeta()
}

// WaitReplayed waits until replica has applied all WAL the primary had
// written when WaitReplayed was called.
func (s *Server) WaitReplayed(ctx context.Context, replica *Server) error {
	p, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	defer p.Close(context.Background())
	var lsn string
	if err := p.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err != nil {
		return fmt.Errorf("pgserver %s: %w", s.meta.Name, err)
	}
	r, err := pgx.Connect(ctx, replica.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver %s: %w", replica.meta.Name, err)
	}
	defer r.Close(context.Background())
	for {
		var done bool
		err := r.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", lsn).Scan(&done)
		if err != nil {
			return fmt.Errorf("pgserver %s: %w", replica.meta.Name, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgserver %s: replay of %s: %w", replica.meta.Name, lsn, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// controlSettings maps pg_controldata's lines to the settings they record.
var controlSettings = map[string]string{
	"max_connections setting":      "max_connections",
	"max_worker_processes setting": "max_worker_processes",
	"max_wal_senders setting":      "max_wal_senders",
	"max_prepared_xacts setting":   "max_prepared_transactions",
	"max_locks_per_xact setting":   "max_locks_per_transaction",
}

// StandbyFloor returns what a hot standby needs at least of the settings
// whose values its primary writes into the WAL (max_connections and the
// like), as pg_controldata reads them from this server's control file: the
// values of the WAL it last replayed. A standby started with less stops
// replaying.
func (s *Server) StandbyFloor(ctx context.Context) (map[string]int, error) {
	cmd, err := s.command(ctx, "pg_controldata", "-D", s.DataDir())
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pgserver %s: pg_controldata: %w", s.meta.Name, err)
	}
	floor := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if name, known := controlSettings[strings.TrimSpace(k)]; ok && known {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				floor[name] = n
			}
		}
	}
	return floor, nil
}
