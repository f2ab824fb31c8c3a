package agent

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// Status is what the status unit reports about a host.
type Status = wire.Status

// checkTimeout bounds each check of a status unit: a role or a server
// that hangs must not hold the unit, which the controller waits for.
const checkTimeout = 3 * time.Second

// Status reports the host's releases, the health of its roles, every
// process its supervisors run (the roles, PostgreSQL, the watchdog) and
// its PostgreSQL server, if it has one.
func (h Host) Status(ctx context.Context) (Status, error) {
	st := Status{Dir: h.Dir, Current: h.Current(), Previous: h.Previous(), Releases: []string{}, Roles: []Health{},
		Processes: h.Processes()}
	entries, _ := os.ReadDir(h.releasesDir())
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			st.Releases = append(st.Releases, e.Name())
		}
	}
	specs, _ := filepath.Glob(filepath.Join(h.rolesDir(), "*.json"))
	sort.Strings(specs)
	for _, p := range specs {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		health, err := h.CheckHealth(cctx, strings.TrimSuffix(filepath.Base(p), ".json"))
		cancel()
		if err != nil {
			return st, err
		}
		st.Roles = append(st.Roles, health)
	}
	st.Postgres = h.postgresHealth(ctx)
	return st, nil
}

// Processes lists every process a supervisor runs from the host's
// directory, by name.
func (h Host) Processes() []wire.Process {
	specs, _ := filepath.Glob(filepath.Join(h.Dir, "*.spec.json"))
	sort.Strings(specs)
	out := []wire.Process{}
	for _, spec := range specs {
		proc, err := supervise.Load(spec)
		if err != nil {
			continue
		}
		p := wire.Process{Name: proc.Name, Log: proc.LogPath()}
		p.SupervisorPID, p.Running = proc.Running()
		if state, err := proc.ReadState(); err == nil {
			p.Restarts, p.LastExit = state.Restarts, state.LastExit
			if p.Running {
				p.PID = state.ChildPID // a dead supervisor's child pid may be anyone's now
			}
		}
		out = append(out, p)
	}
	return out
}

// postgresHealth asks the host's server whether it answers, whether it is
// a replica (and its WAL receiver's state) and which replicas stream from
// it; nil when the host has no server.
func (h Host) postgresHealth(ctx context.Context) *wire.Postgres {
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return nil
	}
	pg := &wire.Postgres{}
	_, pg.Running = PostgresProcess(h.Dir).Running()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := queryPostgres(ctx, srv, pg); err != nil {
		pg.Reason = err.Error()
		return pg
	}
	pg.Ready = true
	return pg
}

func queryPostgres(ctx context.Context, srv *pgserver.Server, pg *wire.Postgres) error {
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), coalesce((SELECT status FROM pg_stat_wal_receiver LIMIT 1), '')`).
		Scan(&pg.Replica, &pg.Receiver)
	if err != nil {
		return err
	}
	// A standby's own position is its last received WAL: it has no
	// current WAL position of its own (cascading replication).
	rows, err := conn.Query(ctx, `
SELECT application_name, state, sync_state,
       coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, replay_lsn), 0)::bigint,
       coalesce(extract(epoch FROM replay_lag), 0)::float8
FROM pg_stat_replication ORDER BY application_name`)
	if err != nil {
		return err
	}
	pg.Standbys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wire.Standby, error) {
		var s wire.Standby
		return s, r.Scan(&s.Name, &s.State, &s.SyncState, &s.LagBytes, &s.LagSecs)
	})
	return err
}
