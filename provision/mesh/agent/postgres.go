package agent

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// PostgresDir is the pgserver directory of a database host: pgserver.Open
// it to reach the server.
func PostgresDir(hostDir string) string { return filepath.Join(hostDir, "pg") }

// RestartingMark is the file a deliberate restart of the host's server
// holds while it lasts: a watchdog probing the server must not take the
// restart for a loss.
func RestartingMark(hostDir string) string { return filepath.Join(PostgresDir(hostDir), "restarting") }

// PostgresProcess is how the host's supervisor runs its PostgreSQL server.
func PostgresProcess(hostDir string) supervise.Process {
	proc := supervise.Process{
		Name:       "postgres",
		Dir:        hostDir,
		Argv:       []string{filepath.Join(pgserver.DefaultBin, "postgres"), "-D", filepath.Join(PostgresDir(hostDir), "data")},
		Env:        []string{"LC_ALL=C.UTF-8"},
		StopSignal: "SIGINT", // fast shutdown: open transactions roll back
	}
	if os.Geteuid() == 0 {
		proc.User = "postgres" // postgres refuses to run as root
	}
	return proc
}

// Postgres carries out op on the host's server; self is the crmplan
// binary, which supervises it. What pg_rewind or a fallback did is
// written to log.
func (h Host) Postgres(ctx context.Context, self string, op wire.PostgresOp, log io.Writer) (wire.PostgresStatus, error) {
	var err error
	switch op.Action {
	case wire.PostgresInit:
		err = h.pgInit(ctx, self, op)
	case wire.PostgresReplica:
		err = h.pgReplica(ctx, self, op)
	case wire.PostgresConfigure:
		err = h.pgConfigure(ctx, self, op.Settings)
	case wire.PostgresStop:
		err = PostgresProcess(h.Dir).Stop()
	case wire.PostgresRemove:
		err = h.pgRemove()
	case wire.PostgresSync:
		err = h.pgSync(ctx, op)
	case wire.PostgresPromote:
		err = h.pgPromote(ctx)
	case wire.PostgresFollow:
		err = h.pgFollow(op.Primary)
	case wire.PostgresRebuild:
		var st wire.PostgresStatus
		st.Rewound, err = h.pgRebuild(ctx, self, op, log)
		if err != nil {
			return st, err
		}
		st2, err := h.PostgresStatus(ctx)
		st2.Rewound = st.Rewound
		return st2, err
	case wire.PostgresUpstream:
		return h.pgUpstream(ctx, time.Duration(op.WaitMs)*time.Millisecond)
	case wire.PostgresStatusOnly:
	default:
		return wire.PostgresStatus{}, crmplan.Errorf(crmplan.EINVALID, "postgres action %q is not one of init, replica, configure, stop, remove, sync, promote, follow, rebuild, upstream, status", op.Action).In("payload")
	}
	if err != nil {
		return wire.PostgresStatus{}, fmt.Errorf("postgres %s on %s: %w", op.Action, filepath.Base(h.Dir), err)
	}
	return h.PostgresStatus(ctx)
}

// PostgresStatus reports whether the host has a server, whether its
// supervisor runs, and, when it answers, its system identifier (a new
// initdb is a new one) and whether it is a replica.
func (h Host) PostgresStatus(ctx context.Context) (wire.PostgresStatus, error) {
	var st wire.PostgresStatus
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return st, nil // no server on this host
	}
	st.Exists = true
	st.SupervisorPID, st.Running = PostgresProcess(h.Dir).Running()
	st.Replica = srv.IsReplica()
	if st.Running {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st.SystemID, _ = systemID(ctx, srv)
	}
	return st, nil
}

// pgUpstream reports the host's replica's WAL position and asks its
// primary, through the network as this host sees it, whether it answers
// as a primary; if so it waits at most wait for the replica to replay
// what the primary had written, and reads the replica's lag there.
func (h Host) pgUpstream(ctx context.Context, wait time.Duration) (wire.PostgresStatus, error) {
	st, err := h.PostgresStatus(ctx)
	if err != nil {
		return st, err
	}
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return st, fmt.Errorf("postgres upstream on %s: no server: %w", filepath.Base(h.Dir), err)
	}
	up, err := srv.Upstream()
	if err != nil {
		return st, crmplan.Errorf(crmplan.ECONFLICT, "postgres upstream on %s: %w", filepath.Base(h.Dir), err).In("host " + filepath.Base(h.Dir))
	}
	qctx, cancel := context.WithTimeout(ctx, checkTimeout)
	st.WALPosition, err = srv.WALPosition(qctx)
	cancel()
	if err != nil {
		return st, fmt.Errorf("postgres upstream on %s: %w", filepath.Base(h.Dir), err)
	}
	u := &wire.Upstream{Addr: up.Addr(), LagBytes: -1}
	st.Upstream = u
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err = up.AnswersAsPrimary(pctx)
	cancel()
	if err != nil {
		u.Reason = err.Error()
		return st, nil
	}
	u.Primary = true
	wctx, cancel := context.WithTimeout(ctx, max(wait, time.Millisecond))
	err = up.WaitReplayed(wctx, srv)
	cancel()
	if u.Replayed = err == nil; u.Replayed {
		u.LagBytes = 0
		return st, nil
	}
	u.Reason = err.Error()
	var pg wire.Postgres
	qctx, cancel = context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if queryPostgres(qctx, up, &pg) == nil {
		for _, s := range pg.Standbys {
			if s.Name == srv.Name() && s.State == "streaming" {
				u.LagBytes = s.LagBytes
			}
		}
	}
	// An idle primary's insert position, which WaitReplayed waits for, may
	// lie past a page header no record follows yet (after a WAL segment
	// switch): no lag behind what it has written (every acknowledged
	// commit) is caught up too.
	if u.LagBytes == 0 {
		u.Replayed, u.Reason = true, ""
	}
	return st, nil
}

// pgRemove stops the server and removes its directory.
func (h Host) pgRemove() error {
	if err := PostgresProcess(h.Dir).Stop(); err != nil {
		return err
	}
	return os.RemoveAll(PostgresDir(h.Dir))
}

// passableHostDir makes the host's directory passable for PostgreSQL,
// which runs as its own user below it. The target makes it so (0755), but
// one removed behind crmplan's back may have been made again, 0700, by
// whatever wrote into it first (likely the Receptor node that still ran
// from it; not proven), and PostgreSQL would find the door shut.
func (h Host) passableHostDir() error {
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(h.Dir, 0o755)
}

func (h Host) pgInit(ctx context.Context, self string, op wire.PostgresOp) error {
	if err := h.pgRemove(); err != nil {
		return err
	}
	if err := h.passableHostDir(); err != nil {
		return err
	}
	if err := portFree(op.Listen); err != nil {
		return err
	}
	srv, err := pgserver.Init(ctx, pgserver.Config{
		Dir: PostgresDir(h.Dir), Addr: op.Listen, Password: op.Password, Name: op.Name, Settings: op.Settings, AllowCIDRs: op.AllowCIDRs,
	})
	if err != nil {
		return err
	}
	if err := h.pgStart(ctx, self, srv); err != nil {
		return err
	}
	return createAppDatabase(ctx, srv, op)
}

func (h Host) pgReplica(ctx context.Context, self string, op wire.PostgresOp) error {
	if err := h.pgRemove(); err != nil {
		return err
	}
	if err := h.passableHostDir(); err != nil {
		return err
	}
	if err := portFree(op.Listen); err != nil {
		return err
	}
	primary, err := pgserver.Remote(op.Primary, op.Password, op.Settings)
	if err != nil {
		return err
	}
	return h.baseBackup(ctx, self, primary, op)
}

// baseBackup takes the host's server afresh from primary. BaseBackup
// starts the replica itself; it is stopped again at once and handed to
// the supervisor, which restarts it when it crashes.
func (h Host) baseBackup(ctx context.Context, self string, primary *pgserver.Server, op wire.PostgresOp) error {
	srv, err := pgserver.BaseBackup(ctx, primary, pgserver.Config{
		Dir: PostgresDir(h.Dir), Addr: op.Listen, Name: op.Name, AllowCIDRs: op.AllowCIDRs, Settings: op.Settings,
	}, pgserver.ReplicaOptions{})
	if err != nil {
		return err
	}
	if err := srv.Stop(ctx); err != nil {
		return err
	}
	// A fresh handle: the old one remembers its own postgres has exited.
	if srv, err = pgserver.Open(PostgresDir(h.Dir)); err != nil {
		return err
	}
	return h.pgStart(ctx, self, srv)
}

// pgStart runs postgres under the supervisor and waits until it accepts
// queries.
func (h Host) pgStart(ctx context.Context, self string, srv *pgserver.Server) error {
	proc := PostgresProcess(h.Dir)
	if _, err := proc.Start(self); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := srv.WaitReady(wctx); err != nil {
		return fmt.Errorf("postgres did not become ready: %w\n%s", err, supervise.LogTail(proc.LogPath(), 2048))
	}
	return nil
}

// reloadable are the settings a running server takes on a reload.
var reloadable = map[string]bool{
	"work_mem": true, "effective_cache_size": true, "maintenance_work_mem": true,
	"synchronous_commit": true, "synchronous_standby_names": true,
}

// pgConfigure applies settings to the server, by a reload when it runs and
// nothing changed that only a restart applies. A tier that scales changes
// the sizing's pool per server and so max_connections: fewer connections
// than the server was started with are no reason to restart it (every api
// server's queries would fail meanwhile), so a running server keeps its
// higher max_connections until a restart happens for another reason.
func (h Host) pgConfigure(ctx context.Context, self string, settings map[string]string) error {
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return err
	}
	_, running := PostgresProcess(h.Dir).Running()
	if _, up := srv.PID(); !running || !up {
		return h.pgRestart(ctx, self, settings)
	}
	applied, restart := reloadSettings(srv.Settings(), settings)
	if restart {
		return h.pgRestart(ctx, self, settings)
	}
	return srv.Configure(applied)
}

// reloadSettings returns the settings to write for a running server whose
// configuration holds current, and whether want needs a restart: a change
// beyond the reloadable settings and a lower max_connections.
func reloadSettings(current, want map[string]string) (map[string]string, bool) {
	if len(RestartReasons(current, want)) > 0 {
		return want, true
	}
	out := maps.Clone(want)
	for k, v := range want {
		if current[k] != v && !reloadable[k] {
			out[k] = current[k] // a lower max_connections: kept
		}
	}
	return out, false
}

// RestartReasons lists the settings of want that a running server whose
// configuration holds current takes only by a restart, each as
// "max_connections 50 -> 60", in key order: what pgConfigure restarts the
// server for. A lower max_connections is none: the server keeps its
// higher one.
func RestartReasons(current, want map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v := want[k]
		if current[k] == v || reloadable[k] {
			continue
		}
		if k == "max_connections" {
			now, err1 := strconv.Atoi(current[k])
			n, err2 := strconv.Atoi(v)
			if err1 == nil && err2 == nil && n < now {
				continue
			}
		}
		was := current[k]
		if was == "" {
			was = "its default"
		}
		out = append(out, fmt.Sprintf("%s %s -> %s", k, was, v))
	}
	return out
}

// pgRestart applies settings (none: only a restart) and (re)starts the
// server.
func (h Host) pgRestart(ctx context.Context, self string, settings map[string]string) error {
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return err
	}
	if err := os.WriteFile(RestartingMark(h.Dir), nil, 0o600); err != nil {
		return err
	}
	defer os.Remove(RestartingMark(h.Dir))
	if err := PostgresProcess(h.Dir).Stop(); err != nil {
		return err
	}
	if len(settings) > 0 {
		if srv.IsReplica() {
			settings = keepStandbyCapacity(ctx, srv, settings)
		}
		if err := srv.Configure(settings); err != nil {
			return err
		}
	}
	return h.pgStart(ctx, self, srv)
}

// keepStandbyCapacity returns settings with none of the values a hot
// standby needs as high as its primary had them (max_connections and the
// like) below what the replica's control file records from the WAL it
// replayed: lowered on a replica right after its primary, recovery stops.
// A few spare connection slots cost little; a replica that stops
// replaying costs the reads.
func keepStandbyCapacity(ctx context.Context, srv *pgserver.Server, settings map[string]string) map[string]string {
	floor, err := srv.StandbyFloor(ctx)
	if err != nil {
		return settings // the server's own error at start says more
	}
	out := maps.Clone(settings)
	for k, min := range floor {
		if want, err := strconv.Atoi(out[k]); err == nil && want < min {
			out[k] = strconv.Itoa(min)
		}
	}
	return out
}

// pgSync makes the primary wait (or stop waiting) for the replica named
// op.Standby. Only once the replica streams: a primary waiting for a
// standby that is not there blocks every commit.
func (h Host) pgSync(ctx context.Context, op wire.PostgresOp) error {
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return err
	}
	settings := map[string]string{"synchronous_standby_names": "", "synchronous_commit": "on"}
	if op.Sync {
		settings["synchronous_standby_names"] = fmt.Sprintf("ANY 1 (%q)", op.Standby)
		settings["synchronous_commit"] = "remote_apply"
	}
	if err := srv.Configure(settings); err != nil {
		return fmt.Errorf("configure for sync=%v with %s: %w", op.Sync, op.Standby, err)
	}
	if !op.Sync {
		return nil
	}
	// Done when the next commit waits for the standby, not before: what
	// apply acknowledges after this must survive the primary's loss.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return srv.WaitSync(ctx, op.Standby)
}

// pgPromote promotes a replica still in recovery; a primary is left alone.
func (h Host) pgPromote(ctx context.Context) error {
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return err
	}
	if !srv.IsReplica() {
		return nil
	}
	return srv.Promote(ctx)
}

// pgFollow points the host's replica at primary (host:port).
func (h Host) pgFollow(primary string) error {
	if _, _, err := net.SplitHostPort(primary); err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "follow needs the new primary as host:port, got %q", primary).In("payload")
	}
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return err
	}
	return srv.Follow(primary)
}

// pgRebuild makes a retired primary the streaming replica of op.Primary:
// pg_rewind when it can (only what diverged is copied), a fresh base
// backup when it cannot (no common history, WAL recycled). It reports
// whether pg_rewind did it.
func (h Host) pgRebuild(ctx context.Context, self string, op wire.PostgresOp, log io.Writer) (bool, error) {
	if err := PostgresProcess(h.Dir).Stop(); err != nil {
		return false, err
	}
	source, err := pgserver.Remote(op.Primary, op.Password, op.Settings)
	if err != nil {
		return false, err
	}
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err == nil {
		if err = srv.Rewind(ctx, source); err == nil {
			return true, h.pgStart(ctx, self, srv)
		}
	}
	// What pg_rewind said stays in the unit's output: it is why the slow
	// path ran.
	fmt.Fprintf(log, "pg_rewind failed, taking a fresh base backup: %v\n", err)
	if err := h.pgRemove(); err != nil {
		return false, err
	}
	return false, h.baseBackup(ctx, self, source, op)
}

func createAppDatabase(ctx context.Context, srv *pgserver.Server, op wire.PostgresOp) error {
	if op.Database == "" || op.AppUser == "" {
		return nil
	}
	role := pgx.Identifier{op.AppUser}.Sanitize()
	// Utility statements take no parameters: the password is a quoted literal.
	pw := "'" + strings.ReplaceAll(op.AppPassword, "'", "''") + "'"
	if err := srv.Exec(ctx, "postgres", "CREATE ROLE "+role+" LOGIN PASSWORD "+pw); err != nil {
		return err
	}
	return srv.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{op.Database}.Sanitize()+" OWNER "+role)
}

func systemID(ctx context.Context, srv *pgserver.Server) (string, error) {
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var id string
	err = conn.QueryRow(ctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&id)
	return id, err
}

// portFree fails, naming the address, when something listens on it
// already: a server of an interrupted apply, or another program.
func portFree(listen string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		_, port, _ := net.SplitHostPort(listen)
		return crmplan.Errorf(crmplan.ECONFLICT, "port %s is already taken: %w", listen, err).
			Try("ss -ltnp 'sport = :%s'   # find the process holding it, stop it, then crmplan apply", port)
	}
	return l.Close()
}
