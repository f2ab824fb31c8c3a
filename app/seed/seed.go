// Package seed fills an empty CRM database with realistic records (names,
// companies, e-mail addresses, deal amounts, activity history) from a fixed
// random seed, so that two runs give the same data. Rows go in with COPY
// (pgx CopyFrom) before the secondary indexes exist; the indexes are built
// afterwards by migrating up, which is much faster than maintaining them
// row by row.
package seed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/migrations"
	"github.com/crmplan/crmplan/app/secret"
)

// Config says how much to make.
type Config struct {
	Records int64 // records over all five kinds
	Reps    int   // sales reps besides admin@ and manager@
	// PasswordKey gives every seeded user their own password
	// (UserPassword); at least MinKeyLen bytes.
	PasswordKey []byte
	Seed        uint64 // random seed; the same seed gives the same data
	// Now anchors the generated dates (created in the two years before it).
	Now  time.Time
	Hash secret.Params // argon2id costs; zero means secret.DefaultParams
	Log  *slog.Logger
	// Progress receives a line every ProgressEvery while rows load (rows,
	// rows/s, ETA) and while indexes build (which one, its phase); nil
	// for none.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Counts are the rows per table.
type Counts struct {
	Users, Accounts, Contacts, Leads, Opportunities, Activities int64
}

// Records is the number of CRM records (users not counted).
func (c Counts) Records() int64 {
	return c.Accounts + c.Contacts + c.Leads + c.Opportunities + c.Activities
}

// Result tells what Run did and how fast.
type Result struct {
	Counts
	Load    time.Duration // COPY of all rows
	Indexes time.Duration // building the indexes (migrating up)
	Total   time.Duration
}

// RowsPerSecond is the load rate of the COPY phase.
func (r Result) RowsPerSecond() float64 {
	return float64(r.Records()) / r.Load.Seconds()
}

// split divides records over the kinds: accounts 10 %, contacts 30 %,
// leads 15 %, opportunities 15 %, activities the rest (about 30 %).
func split(records int64, reps int) Counts {
	c := Counts{Users: int64(reps) + 2}
	c.Accounts = max(records/10, 1)
	c.Contacts = records * 3 / 10
	c.Leads = records * 15 / 100
	c.Opportunities = records * 15 / 100
	c.Activities = max(records-c.Accounts-c.Contacts-c.Leads-c.Opportunities, 0)
	return c
}

// Run seeds the database at databaseURL, which must hold no users yet.
func Run(ctx context.Context, databaseURL string, cfg Config) (Result, error) {
	if cfg.Records < 1 || cfg.Reps < 1 {
		return Result{}, app.Errorf(app.EINVALID, "need at least 1 record and 1 rep, got %d and %d", cfg.Records, cfg.Reps)
	}
	if len(cfg.PasswordKey) < MinKeyLen {
		return Result{}, app.Errorf(app.EINVALID, "must be at least %d bytes, got %d (try: CRM_SEED_PASSWORD_KEY=$(head -c 24 /dev/urandom | base64) crm seed ...)",
			MinKeyLen, len(cfg.PasswordKey)).In("CRM_SEED_PASSWORD_KEY")
	}
	if cfg.Hash == (secret.Params{}) {
		cfg.Hash = secret.DefaultParams
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now().UTC()
	}
	start := time.Now()
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return Result{}, app.Errorf(app.EINVALID, "not a PostgreSQL URL").In("--database-url")
	}
	defer pool.Close()
	if err := prepare(ctx, pool, databaseURL, cfg.Log); err != nil {
		return Result{}, err
	}
	res := Result{Counts: split(cfg.Records, cfg.Reps)}
	loadStart := time.Now()
	var rows atomic.Int64
	tk := every(cfg.Progress, cfg.ProgressEvery, func() string {
		return loadLine(rows.Load(), res.Records()+res.Users, time.Since(loadStart))
	})
	err = load(ctx, pool, cfg, res.Counts, &rows)
	tk.Stop()
	if err != nil {
		return res, err
	}
	res.Load = time.Since(loadStart)
	cfg.Log.Info("rows loaded", "records", res.Records(), "seconds", res.Load.Seconds(), "rows_per_second", int(res.RowsPerSecond()))
	progress(cfg, "seed: %s rows loaded in %s (%s rows/s); building the indexes",
		thousands(res.Records()+res.Users), res.Load.Round(time.Second/10), thousands(int64(res.RowsPerSecond())))
	idx := time.Now()
	iw := &indexWatch{pool: pool, start: idx}
	tk = every(cfg.Progress, cfg.ProgressEvery, iw.line)
	_, err = migrations.UpTo(ctx, databaseURL, migrations.Latest, cfg.Log)
	tk.Stop()
	if err != nil {
		return res, err
	}
	progress(cfg, "seed: indexes built in %s; vacuum analyze", time.Since(idx).Round(time.Second/10))
	// VACUUM sets the visibility map that index-only scans need.
	vac := time.Now()
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return res, fmt.Errorf("vacuum: %w", err)
	}
	res.Indexes, res.Total = time.Since(idx), time.Since(start)
	progress(cfg, "seed: vacuum analyze took %s; seeded in %s", time.Since(vac).Round(time.Second/10), res.Total.Round(time.Second/10))
	return res, nil
}

// progress writes one line to cfg.Progress, if any.
func progress(cfg Config, format string, args ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, format+"\n", args...)
	}
}

// prepare checks that the database is empty and brings it to the schema
// without secondary indexes.
func prepare(ctx context.Context, pool *pgxpool.Pool, url string, log *slog.Logger) error {
	if _, err := migrations.UpTo(ctx, url, migrations.Schema, log); err != nil {
		return err
	}
	var users int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&users); err != nil {
		return app.Errorf(app.EUNAVAILABLE, "database: %w", err)
	}
	if users > 0 {
		return app.Errorf(app.ECONFLICT, "the database already has %d users; seed an empty database (dropdb and createdb, then crm seed)", users)
	}
	_, err := migrations.DownTo(ctx, url, migrations.Schema, log)
	return err
}

// load copies users, then accounts, then the kinds that refer to accounts,
// then activities, which refer to all of them.
func load(ctx context.Context, pool *pgxpool.Pool, cfg Config, n Counts, rows *atomic.Int64) error {
	hashes, err := hashPasswords(ctx, cfg)
	if err != nil {
		return err
	}
	g := newGen(cfg, n)
	if err := copyRows(ctx, pool, "users", userColumns, n.Users, g.user(hashes), rows); err != nil {
		return err
	}
	if err := copyRows(ctx, pool, "accounts", accountColumns, n.Accounts, g.account(), rows); err != nil {
		return err
	}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(2) // this machine class has 2 cores; more COPYs only contend
	eg.Go(func() error { return copyRows(ectx, pool, "contacts", contactColumns, n.Contacts, g.contact(), rows) })
	eg.Go(func() error {
		return copyRows(ectx, pool, "opportunities", opportunityColumns, n.Opportunities, g.opportunity(), rows)
	})
	eg.Go(func() error { return copyRows(ectx, pool, "leads", leadColumns, n.Leads, g.lead(), rows) })
	if err := eg.Wait(); err != nil {
		return err
	}
	if err := copyRows(ctx, pool, "activities", activityColumns, n.Activities, g.activity(), rows); err != nil {
		return err
	}
	for _, t := range []string{"users", "accounts", "contacts", "leads", "opportunities", "activities"} {
		// Ids were chosen here: move each identity past them.
		if _, err := pool.Exec(ctx, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM %s), false)", t, t)); err != nil {
			return fmt.Errorf("%s sequence: %w", t, err)
		}
	}
	return nil
}

// hashPasswords hashes every user's own password, on every core: at the
// default costs (about 30 ms each) 3000 users take about 45 s on two.
func hashPasswords(ctx context.Context, cfg Config) ([]string, error) {
	emails := Emails(cfg.Reps)
	hashes := make([]string, len(emails))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(runtime.GOMAXPROCS(0))
	for i, email := range emails {
		eg.Go(func() error {
			if err := ectx.Err(); err != nil {
				return err
			}
			h, err := secret.HashPassword(UserPassword(cfg.PasswordKey, email), cfg.Hash)
			hashes[i] = h
			return err
		})
	}
	return hashes, eg.Wait()
}

// copyRows COPYs n rows made by row(i) for i in 1..n.
func copyRows(ctx context.Context, pool *pgxpool.Pool, table string, columns []string, n int64, row func(i int64) []any, rows *atomic.Int64) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return app.Errorf(app.EUNAVAILABLE, "database: %w", err)
	}
	defer conn.Release()
	// The rows are consistent by construction: skip the per-row foreign-key
	// triggers when allowed (superuser); otherwise they run, slower.
	_, _ = conn.Exec(ctx, "SET session_replication_role = replica")
	defer conn.Exec(context.Background(), "RESET session_replication_role") //nolint:errcheck
	var i int64
	c := counter{total: rows}
	defer c.flush()
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		i++
		c.row()
		return row(i), nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, columns, src); err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return nil
}
