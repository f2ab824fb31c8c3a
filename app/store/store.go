// Package store keeps the CRM in PostgreSQL through pgx connection pools:
// writes go to the primary; lists, searches, reports and exports may go to
// a streaming replica, except for a client that has just written and whose
// write the replica has not replayed yet (read-your-writes by WAL position).
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/migrations"
)

// Config says where the databases are.
type Config struct {
	DatabaseURL string // the primary
	ReplicaURL  string // optional streaming replica for reads
	MaxConns    int32  // per pool; default DefaultMaxConns
	Log         *slog.Logger
}

// DefaultMaxConns per pool. pgx's own default (one per CPU, at least 4)
// capped a 2-core api server at about 110 req/s with every request waiting
// for a connection while PostgreSQL sat idle on commits.
const DefaultMaxConns = 16

// warmConns is how many connections of each pool a server opens when it
// starts, before any request needs them (at most the pool's size): it
// acquires them in the background and puts them back idle. A new
// PostgreSQL connection (a forked backend, SCRAM) took 40 ms on an idle
// 2-core machine and 170-300 ms with its cores busy: pools grown only on
// demand made a server just started stall under its first load (p95
// 406 ms in the second the first verify after apply reached its rate;
// none in the verify after), and its /readyz, waiting in the same pool,
// failed the balancers' checks and had it ejected, which failed a rolling
// deploy's next drain. Four cover what the plans' rates keep in flight
// at one server; the pool's size stays a cap above them, as the sizing
// counts it, and pgx closes them after its idle time (30 min). Not pgx's
// MinConns: a pool closed after a resize kept one of its connections
// open for good in 6 of 8 tries (pgx v5.12).
const warmConns = 4

// Store is the CRM's persistence. It is safe for concurrent use.
type Store struct {
	// cur holds the pools; SetMaxConns replaces them while requests run.
	cur atomic.Pointer[pools]
	cfg Config
	// resize serializes SetMaxConns; grace is oldPoolsGrace but in tests.
	resize sync.Mutex
	grace  time.Duration
	log    *slog.Logger
	// replayed is the replica's last replayed WAL position, refreshed in the
	// background; 0 while unknown, which sends every read to the primary.
	replayed atomic.Uint64
	// cancel ends, and bg waits for, the background work: the replica's
	// follower and the pools' warm-up.
	cancel context.CancelFunc
	bg     sync.WaitGroup
	// steps counts how searches were answered (SearchSteps).
	steps [numSteps]atomic.Uint64
	// dense and walk, when above 0, replace denseLimit and shortWalk's bound
	// (tests reach every way of answering a search with a small table).
	dense, walk int
}

// pools are one generation of connection pools.
type pools struct {
	primary *pgxpool.Pool
	replica *pgxpool.Pool // nil without a replica
}

func (p *pools) reset() {
	p.primary.Reset()
	if p.replica != nil {
		p.replica.Reset()
	}
}

func (p *pools) close() {
	p.primary.Close()
	if p.replica != nil {
		p.replica.Close()
	}
}

// Open connects the pools. It does not wait for the databases: /readyz
// tells when they answer.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: cfg.Log, cfg: cfg, grace: oldPoolsGrace}
	p, err := openPools(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.cur.Store(p)
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.bg.Go(func() { warm(bg, p.primary, warmConns) })
	if cfg.ReplicaURL != "" {
		s.bg.Go(func() { warm(bg, p.replica, warmConns) })
		s.bg.Go(func() { s.followReplica(bg) })
	}
	return s, nil
}

// warm opens n of pool's connections (at most its size) by holding n at
// once, then puts them back idle. It gives up after 30 s, or when ctx
// ends: a database that does not answer yet is /readyz's news.
func warm(ctx context.Context, pool *pgxpool.Pool, n int32) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n = min(n, pool.Config().MaxConns)
	conns := make(chan *pgxpool.Conn, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if c, err := pool.Acquire(ctx); err == nil {
				conns <- c
			}
		})
	}
	wg.Wait()
	close(conns)
	for c := range conns {
		c.Release()
	}
}

func openPools(ctx context.Context, cfg Config) (*pools, error) {
	var p pools
	var err error
	if p.primary, err = newPool(ctx, cfg.DatabaseURL, cfg.MaxConns, "--database-url"); err != nil {
		return nil, err
	}
	if cfg.ReplicaURL == "" {
		return &p, nil
	}
	if p.replica, err = newPool(ctx, cfg.ReplicaURL, cfg.MaxConns, "--replica-url"); err != nil {
		p.primary.Close()
		return nil, err
	}
	return &p, nil
}

// oldPoolsGrace is how long replaced pools stay open: a request that took
// the old pools just before the swap still acquires from them, and pgx
// refuses an acquire on a closed pool. Requests give up long before this.
const oldPoolsGrace = time.Minute

// SetMaxConns replaces the pools with pools of maxConns connections each
// (0: DefaultMaxConns) without stopping the server: new requests take the
// new pools at once, and the old ones close after oldPoolsGrace, which
// waits for the connections still in use. pgx cannot resize a pool, and
// an api server must not restart because its tier scaled (the sizing
// divides the database's connections among the api servers).
func (s *Store) SetMaxConns(ctx context.Context, maxConns int32) error {
	s.resize.Lock()
	defer s.resize.Unlock()
	old := s.cur.Load()
	if want := cmp.Or(maxConns, DefaultMaxConns); old.primary.Config().MaxConns == want {
		return nil
	}
	cfg := s.cfg
	cfg.MaxConns = maxConns
	// Not warmed: the old pools' connections in use close only as their
	// requests finish, and warm new ones beside them on every server of a
	// tier that just scaled could pass the max_connections the sizing
	// left it.
	p, err := openPools(ctx, cfg)
	if err != nil {
		return err
	}
	s.cur.Store(p)
	s.cfg = cfg
	s.log.Info("database pools resized", "max_conns", p.primary.Config().MaxConns, "was", old.primary.Config().MaxConns)
	// The old pools close their idle connections now and those in use
	// when they come back, so that old and new pools together stay within
	// the server's share of max_connections: without it, a tier scaled
	// out and then in within a minute held three generations of pools,
	// idle connections and all, on each server.
	old.reset()
	time.AfterFunc(s.grace, old.close)
	return nil
}

// MaxConns is the current pools' size.
func (s *Store) MaxConns() int32 { return s.cur.Load().primary.Config().MaxConns }

func (s *Store) pri() *pgxpool.Pool { return s.cur.Load().primary }

func newPool(ctx context.Context, url string, maxConns int32, flag string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, app.Errorf(app.EINVALID, "not a PostgreSQL URL like postgres://user:password@host:5432/crm").In(flag)
	}
	cfg.MaxConns = DefaultMaxConns
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	// JIT compiles for what the planner thinks is a big query; for this
	// OLTP workload it turned a 0.1 ms report query into 180 ms.
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "%s: %w", flag, err)
	}
	return pool, nil
}

// Close stops the background work (warm-up, replica follower) and closes
// the pools.
func (s *Store) Close() {
	s.cancel()
	s.bg.Wait()
	s.cur.Load().close()
}

// Pools returns the current pools by name ("primary", "replica"), for
// metrics.
func (s *Store) Pools() map[string]*pgxpool.Pool {
	p := s.cur.Load()
	m := map[string]*pgxpool.Pool{"primary": p.primary}
	if p.replica != nil {
		m["replica"] = p.replica
	}
	return m
}

// Primary is the primary's pool, for tools (seed, worker) that need COPY.
func (s *Store) Primary() *pgxpool.Pool { return s.pri() }

// Ready fails unless the primary answers and its schema is at the version
// this binary expects.
func (s *Store) Ready(ctx context.Context) error {
	v, err := migrations.Current(ctx, s.pri())
	if err != nil {
		return app.Errorf(app.EUNAVAILABLE, "database: %w", err)
	}
	if v != migrations.Latest {
		return app.Errorf(app.EUNAVAILABLE, "database schema is at version %d, want %d: run crm migrate", v, migrations.Latest)
	}
	if s.cur.Load().replica != nil && s.replayed.Load() == 0 {
		s.log.Warn("replica not followed yet; reads go to the primary")
	}
	return nil
}

// followReplica polls the replica's replayed WAL position.
func (s *Store) followReplica(ctx context.Context) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		var lsn string
		err := s.cur.Load().replica.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')::text").Scan(&lsn)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.replayed.Store(0)
		} else if n, perr := ParseLSN(lsn); perr == nil {
			s.replayed.Store(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type lsnKey struct{}

// AfterLSN returns a context whose reads must see WAL position lsn: the
// position of the client's last write, from WroteLSN.
func AfterLSN(ctx context.Context, lsn uint64) context.Context {
	return context.WithValue(ctx, lsnKey{}, lsn)
}

type wroteKey struct{}

// LSNRecorder returns a context in which writes record the WAL position
// after them; read it back with WroteLSN.
func LSNRecorder(ctx context.Context) context.Context {
	return context.WithValue(ctx, wroteKey{}, new(atomic.Uint64))
}

// WroteLSN returns the WAL position after the last write made with a
// context from LSNRecorder, or 0.
func WroteLSN(ctx context.Context) uint64 {
	if p, ok := ctx.Value(wroteKey{}).(*atomic.Uint64); ok {
		return p.Load()
	}
	return 0
}

// reader picks the pool for a read: the replica when it has replayed the
// client's last write, else the primary.
func (s *Store) reader(ctx context.Context) *pgxpool.Pool {
	p := s.cur.Load()
	if p.replica == nil {
		return p.primary
	}
	replayed := s.replayed.Load()
	if replayed == 0 {
		return p.primary
	}
	if min, _ := ctx.Value(lsnKey{}).(uint64); min > replayed {
		return p.primary
	}
	return p.replica
}

// wrote records the primary's WAL position after a committed write, when
// the caller asked for it and a replica makes it matter.
func (s *Store) wrote(ctx context.Context) {
	p, ok := ctx.Value(wroteKey{}).(*atomic.Uint64)
	if !ok || s.cur.Load().replica == nil {
		return
	}
	var lsn string
	if err := s.pri().QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err != nil {
		return
	}
	if n, err := ParseLSN(lsn); err == nil {
		p.Store(n)
	}
}

// ParseLSN parses a PostgreSQL WAL position like "16/B374D848".
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	return h<<32 | l, nil
}

// dbError turns PostgreSQL errors a client caused into *app.Error.
func dbError(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return app.Errorf(app.ENOTFOUND, "%s not found", what)
	}
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return app.Errorf(app.EUNAVAILABLE, "%s: %w", what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case pg.Code == "23503":
		return app.Errorf(app.EINVALID, "refers to a record that does not exist or is still referenced").In(constraintField(pg))
	case pg.Code == "23505":
		return app.Errorf(app.ECONFLICT, "already exists").In(constraintField(pg))
	// PostgreSQL's own words name tables, constraints and the offending
	// value a client need not see: clients get our words.
	case pg.Code == "23514":
		return app.Errorf(app.EINVALID, "is outside the values this field allows").In(constraintField(pg))
	case pg.Code == "23502":
		return app.Errorf(app.EINVALID, "may not be null").In(constraintField(pg))
	case strings.HasPrefix(pg.Code, "22"):
		return app.Errorf(app.EINVALID, "%s: a value is malformed or out of range", what)
	case pg.Code == "57014":
		return app.Errorf(app.EUNAVAILABLE, "%s: query canceled", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// constraintField names the column of a constraint like
// "contacts_account_id_fkey".
func constraintField(pg *pgconn.PgError) string {
	if pg.ColumnName != "" {
		return pg.ColumnName
	}
	name := strings.TrimPrefix(pg.ConstraintName, pg.TableName+"_")
	for _, suffix := range []string{"_fkey", "_key", "_check"} {
		name = strings.TrimSuffix(name, suffix)
	}
	return name
}
