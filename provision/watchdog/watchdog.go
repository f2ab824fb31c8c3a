package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// Probing defaults of the automatic-failover watchdog: the primary is
// declared lost after Probes failed probes Interval apart, about two
// seconds after it stops answering.
const (
	DefaultProbeInterval = 500 * time.Millisecond
	DefaultProbes        = 4
)

// Config is what one watchdog watches: the primary, and the
// replicas it may promote in its place.
type Config struct {
	Paths    stackdir.Paths // the stack, where failover.json is written
	Primary  string         // NAME=HOSTDIR
	Replicas []string       // NAME=HOSTDIR each
	// Sync: the plan's replication is synchronous; replicas left after a
	// promotion become the new primary's synchronous standbys.
	Sync     bool
	Interval time.Duration
	Probes   int
	// Record is where the promotion is recorded; default the stack's
	// failover.json under Paths. With a Lease it is on the watchdog's host,
	// and the planning side reads it through the host's agent.
	Record string
	// Lease, when set, is how the watchdog fences a primary on another
	// machine (the ssh target, doc.go): Primary is then only its NAME,
	// probed as the one Replica (this host's) streams from, and fenced by
	// its host's guard.
	Lease *Lease
}

// Lease is the watchdog's side of the lease with the primary's guard.
type Lease struct {
	Guard    string // host:port of the guard on the primary's host
	Secret   []byte
	Duration time.Duration // the guard's lease; default DefaultLease
}

func (c Config) record() string {
	if c.Record != "" {
		return c.Record
	}
	return c.Paths.FailoverRecord()
}

// DBHost is a database host as the watchdog names it on its command line
// (String): its name and its host directory.
type DBHost struct{ Name, Dir string }

func (h DBHost) String() string { return h.Name + "=" + h.Dir }

func parseDBHost(s string) (DBHost, error) {
	name, dir, ok := strings.Cut(s, "=")
	if !ok || name == "" || !filepath.IsAbs(dir) {
		return DBHost{}, crmplan.Errorf(crmplan.EINVALID, "%q is not NAME=/ABSOLUTE/HOST/DIR", s).
			Try("--primary db-primary-1=/root/.crmplan/simplecrm/hosts/db-primary-1")
	}
	return DBHost{Name: name, Dir: dir}, nil
}

func (c Config) hosts() (DBHost, []DBHost, error) {
	primary, err := parseDBHost(c.Primary)
	if c.Lease != nil {
		// Its files are on another machine.
		primary, err = DBHost{Name: c.Primary}, nil
		if c.Primary == "" || strings.Contains(c.Primary, "=") {
			err = crmplan.Errorf(crmplan.EINVALID, "with a lease guard the primary is only its NAME, got %q", c.Primary).In("--primary")
		}
		if len(c.Replicas) > 1 {
			return primary, nil, crmplan.Errorf(crmplan.EINVALID, "with a lease guard the watchdog promotes only its own host's replica, got %d", len(c.Replicas)).In("--replica")
		}
	}
	if err != nil {
		return primary, nil, err
	}
	if len(c.Replicas) == 0 {
		return primary, nil, crmplan.Errorf(crmplan.EINVALID, "a watchdog needs a replica to promote").In("--replica")
	}
	var replicas []DBHost
	for _, s := range c.Replicas {
		r, err := parseDBHost(s)
		if err != nil {
			return primary, nil, err
		}
		replicas = append(replicas, r)
	}
	return primary, replicas, nil
}

// Run probes the primary every Interval. After Probes probes in a
// row failed it fences the primary (marks it so it can only start
// read-only, then kills its postgres and supervisor), promotes the most
// advanced replica, points the other replicas at it and records the
// promotion in failover.json, as crmplan failover does. The api servers
// find the new primary by themselves (their database URL lists every
// database host with target_session_attrs=read-write), so no apply is in
// the critical path. Once a stack has failed over the watchdog only waits
// for ctx: the next apply removes it. It is the body of the hidden
// `crmplan watchdog` command that apply runs under a supervisor.
func Run(ctx context.Context, cfg Config, log io.Writer) error {
	primary, replicas, err := cfg.hosts()
	if err != nil {
		return err
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultProbeInterval
	}
	if cfg.Probes <= 0 {
		cfg.Probes = DefaultProbes
	}
	if p, err := LoadPromotionFile(cfg.record()); err != nil || p != nil {
		if err == nil {
			fmt.Fprintf(log, "watchdog: stack %s failed over to %s at %s; nothing to watch\n", cfg.Paths.Stack, p.Promoted, p.At.Format(time.RFC3339))
			<-ctx.Done()
		}
		return err
	}
	fmt.Fprintf(log, "watchdog: probing %s every %s, failing over to one of %d replicas after %d failed probes\n",
		primary.Name, cfg.Interval, len(replicas), cfg.Probes)
	var lease *holder
	probe := func(ctx context.Context) error { return probePrimary(ctx, primary, 2*cfg.Interval) }
	if cfg.Lease != nil {
		lease = newHolder(cfg, log)
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			lease.renew(ctx)
		}()
		// A watchdog stopped on purpose releases the lease before it exits.
		defer func() { <-renewed }()
		probe = func(ctx context.Context) error { return probeUpstream(ctx, replicas[0], 2*cfg.Interval) }
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	failed, lastSeen := 0, time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if primary.Dir != "" && restarting(primary.Dir) {
			failed = 0 // apply is restarting it on purpose
			continue
		}
		err := probe(ctx)
		if err == nil {
			failed, lastSeen = 0, time.Now()
			continue
		}
		failed++
		fmt.Fprintf(log, "watchdog: probe %d/%d of %s failed: %v\n", failed, cfg.Probes, primary.Name, err)
		if failed < cfg.Probes {
			continue
		}
		p, err := autoFailover(ctx, cfg, primary, replicas, lastSeen, lease, log)
		if err != nil {
			// Probing goes on: the next round of failed probes tries again.
			fmt.Fprintf(log, "watchdog: failover: %v\n", err)
			failed = 0
			if lease != nil {
				lease.resume()
			}
			continue
		}
		fmt.Fprintf(log, "watchdog: promoted %s, fenced %s: detected %s after the last answer, promoted %s later\n",
			p.Promoted, p.Retired, p.Detected.Sub(p.LastSeen).Round(time.Millisecond), p.At.Sub(p.Detected).Round(time.Millisecond))
		<-ctx.Done()
		return nil
	}
}

// probePrimary succeeds when host's postgres accepts a connection within
// timeout and is not in recovery (a fenced primary is).
func probePrimary(ctx context.Context, host DBHost, timeout time.Duration) error {
	srv, err := pgserver.Open(agent.PostgresDir(host.Dir))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return srv.AnswersAsPrimary(ctx)
}

func restarting(hostDir string) bool {
	st, err := os.Stat(agent.RestartingMark(hostDir))
	return err == nil && time.Since(st.ModTime()) < 2*time.Minute
}

// autoFailover fences old (through its guard with a lease) and promotes
// the most advanced replica.
func autoFailover(ctx context.Context, cfg Config, old DBHost, replicas []DBHost, lastSeen time.Time, lease *holder, log io.Writer) (Promotion, error) {
	detected := time.Now()
	if p, err := LoadPromotionFile(cfg.record()); err != nil || p != nil {
		if err == nil {
			err = fmt.Errorf("stack %s already failed over to %s", cfg.Paths.Stack, p.Promoted)
		}
		return Promotion{}, err
	}
	fenced := func() error { return fence(ctx, old, log) }
	if lease != nil {
		fenced = func() error { return lease.fence(ctx, replicas[0]) }
	}
	if err := fenced(); err != nil {
		return Promotion{}, err
	}
	next, others, err := mostAdvanced(ctx, replicas)
	if err != nil {
		return Promotion{}, err
	}
	srv, err := pgserver.Open(agent.PostgresDir(next.Dir))
	if err != nil {
		return Promotion{}, fmt.Errorf("host %s: %w", next.Name, err)
	}
	if srv.IsReplica() {
		pctx, cancel := context.WithTimeout(ctx, 70*time.Second)
		err := srv.Promote(pctx)
		cancel()
		if err != nil {
			return Promotion{}, fmt.Errorf("host %s: %w", next.Name, err)
		}
	}
	p := Promotion{Promoted: next.Name, Retired: old.Name, At: time.Now().UTC(), Automatic: true,
		LastSeen: lastSeen.UTC(), Detected: detected.UTC()}
	if err := SavePromotionFile(cfg.record(), p); err != nil {
		return p, err
	}
	repoint(ctx, next, srv, others, cfg.Sync, log)
	return p, nil
}

// fence makes sure old takes no more writes: first the mark that keeps any
// restart read-only, then its supervisor and postgres are killed, then a
// last probe must fail. A primary that cannot be shown dead is not
// replaced: two primaries taking writes is worse than none.
func fence(ctx context.Context, old DBHost, log io.Writer) error {
	if srv, err := pgserver.Open(agent.PostgresDir(old.Dir)); err != nil {
		// A lost data directory cannot start at all.
		fmt.Fprintf(log, "watchdog: fence %s: no mark: %v\n", old.Name, err)
	} else if err := srv.Fence(); err != nil {
		fmt.Fprintf(log, "watchdog: fence %s: no mark: %v\n", old.Name, err)
	}
	if err := agent.PostgresProcess(old.Dir).Stop(); err != nil {
		return fmt.Errorf("host %s: fence: %w", old.Name, err)
	}
	if err := probePrimary(ctx, old, time.Second); err == nil {
		return fmt.Errorf("host %s: fence: it still answers as a primary after it was stopped", old.Name)
	}
	return nil
}

// mostAdvanced picks the reachable replica that received the most WAL:
// promoting it loses the fewest writes, and the others can follow it.
func mostAdvanced(ctx context.Context, replicas []DBHost) (DBHost, []DBHost, error) {
	best, bestPos := -1, int64(-1)
	var errs []error
	for i, r := range replicas {
		srv, err := pgserver.Open(agent.PostgresDir(r.Dir))
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", r.Name, err))
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		pos, err := srv.WALPosition(qctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", r.Name, err))
			continue
		}
		if pos > bestPos {
			best, bestPos = i, pos
		}
	}
	if best < 0 {
		return DBHost{}, nil, fmt.Errorf("no replica to promote answers: %w", errors.Join(errs...))
	}
	others := append(append([]DBHost(nil), replicas[:best]...), replicas[best+1:]...)
	return replicas[best], others, nil
}

// repoint makes the replicas left behind stream from the new primary (host,
// whose server is primary) and, with synchronous replication, makes it
// wait for one of them once one streams (before, every commit would block).
func repoint(ctx context.Context, host DBHost, primary *pgserver.Server, others []DBHost, sync bool, log io.Writer) {
	var names []string
	for _, r := range others {
		srv, err := pgserver.Open(agent.PostgresDir(r.Dir))
		if err == nil {
			err = srv.Follow(primary.Addr())
		}
		if err != nil {
			fmt.Fprintf(log, "watchdog: repoint %s at %s: %v\n", r.Name, primary.Name(), err)
			continue
		}
		names = append(names, r.Name)
	}
	if !sync || len(names) == 0 {
		return
	}
	err := waitFor(ctx, 30*time.Second, func(ctx context.Context) error {
		for _, n := range names {
			if r, err := replication(ctx, host.Dir, n); err == nil && r.State == "streaming" {
				return nil
			}
		}
		return errors.New("no replica streams yet")
	})
	if err == nil {
		err = setSyncNames(primary, names)
	}
	if err != nil {
		fmt.Fprintf(log, "watchdog: %s stays asynchronous: %v\n", primary.Name(), err)
	}
}

// setSyncNames makes primary wait on every commit for any one of names.
func setSyncNames(primary *pgserver.Server, names []string) error {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return primary.Configure(map[string]string{
		"synchronous_standby_names": "ANY 1 (" + strings.Join(quoted, ", ") + ")",
		"synchronous_commit":        "remote_apply",
	})
}

// replication reads the replica's row (name) on the primary whose files
// are in primaryDir, from this machine (the watchdog's: it runs beside the
// replicas and the primary, which share a filesystem on the local target).
func replication(ctx context.Context, primaryDir, name string) (*wire.Standby, error) {
	srv, err := pgserver.Open(agent.PostgresDir(primaryDir))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	r := wire.Standby{Name: name}
	err = conn.QueryRow(ctx, `
SELECT state, sync_state,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
       coalesce(extract(epoch FROM replay_lag), 0)::float8
FROM pg_stat_replication WHERE application_name = $1`, name).Scan(&r.State, &r.SyncState, &r.LagBytes, &r.LagSecs)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("%s is not streaming from the primary", name)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// waitFor polls check until it succeeds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
