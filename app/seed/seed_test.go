package seed

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/migrations"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/pgserver"
)

var testCfg = Config{Records: 5000, Reps: 5, PasswordKey: []byte("seed password key"), Seed: 42,
	Now: time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), Hash: secret.Params{Memory: 64, Time: 1, Threads: 1}, Log: slog.New(slog.DiscardHandler)}

// fingerprint hashes every generated row, so two seeds can be compared.
const fingerprint = `SELECT md5(string_agg(x, '|')) FROM (
	(SELECT (c.*)::text AS x FROM (SELECT id, owner_id, account_id, first_name, last_name, email, created_at FROM contacts ORDER BY id) c)
	UNION ALL (SELECT (o.*)::text FROM (SELECT id, account_id, stage, amount, close_date FROM opportunities ORDER BY id) o)
	UNION ALL (SELECT (a.*)::text FROM (SELECT id, kind, subject, due_at, contact_id FROM activities ORDER BY id) a)) t`

func seedOne(t *testing.T, srv *pgserver.Server, db string) (*pgxpool.Pool, Result) {
	t.Helper()
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, srv.URL(db), testCfg)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, srv.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, res
}

func TestSeed(t *testing.T) {
	srv := pgserver.StartTest(t)
	ctx := context.Background()
	pool, res := seedOne(t, srv, "a")
	if res.Records() != 5000 || res.Users != 7 {
		t.Errorf("counts %+v", res.Counts)
	}
	for table, want := range map[string]int64{"users": 7, "accounts": res.Accounts, "contacts": res.Contacts, "leads": res.Leads, "opportunities": res.Opportunities, "activities": res.Activities} {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows, %v; want %d", table, n, err, want)
		}
	}
	if v, err := migrations.Current(ctx, pool); err != nil || v != migrations.Latest {
		t.Errorf("schema version %d, %v", v, err)
	}
	// Every seeded user signs in with their own password, and with no
	// other user's (finding 7: one password for all was everyone's).
	var hash string
	if err := pool.QueryRow(ctx, "SELECT password_hash FROM users WHERE email = 'rep5@example.com' AND manager_id = 2").Scan(&hash); err != nil ||
		!secret.VerifyPassword(UserPassword(testCfg.PasswordKey, "rep5@example.com"), hash) {
		t.Errorf("rep5 does not sign in with their password: %v", err)
	}
	for _, other := range []string{"admin@example.com", "manager@example.com", "rep4@example.com"} {
		if secret.VerifyPassword(UserPassword(testCfg.PasswordKey, other), hash) {
			t.Errorf("rep5 signs in with %s's password", other)
		}
	}
	// New records get ids past the seeded ones.
	var id int64
	if err := pool.QueryRow(ctx, "INSERT INTO accounts (owner_id, name) VALUES (3, 'new') RETURNING id").Scan(&id); err != nil || id != res.Accounts+1 {
		t.Errorf("next account id %d, %v; want %d", id, err, res.Accounts+1)
	}
	var bad int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT owner_id, stage, count(*) AS count, sum(amount) AS amount FROM opportunities GROUP BY 1, 2) o
		FULL JOIN pipeline_totals p USING (owner_id, stage) WHERE o.count IS DISTINCT FROM p.count OR o.amount IS DISTINCT FROM p.amount`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("%d pipeline totals differ after seeding (%v)", bad, err)
	}
	var stages int
	if err := pool.QueryRow(ctx, "SELECT count(DISTINCT stage) FROM opportunities").Scan(&stages); err != nil || stages != len(app.Stages) {
		t.Errorf("%d stages seeded", stages)
	}
	if _, err := Run(ctx, srv.URL("a"), testCfg); app.ErrorCode(err) != app.ECONFLICT {
		t.Errorf("second seed: %v, want conflict", err)
	}
	// The same seed gives the same data.
	pool2, _ := seedOne(t, srv, "b")
	var f1, f2 string
	if err := pool.QueryRow(ctx, fingerprint).Scan(&f1); err != nil {
		t.Fatal(err)
	}
	if err := pool2.QueryRow(ctx, fingerprint).Scan(&f2); err != nil {
		t.Fatal(err)
	}
	if f1 != f2 || f1 == "" {
		t.Errorf("fingerprints differ: %s %s", f1, f2)
	}
}

func TestSeedRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no records", Config{Records: 0, Reps: 1, PasswordKey: []byte("0123456789abcdef")}},
		{"short password key", Config{Records: 10, Reps: 1, PasswordKey: []byte("short")}},
		{"no password key", Config{Records: 10, Reps: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), "postgres://127.0.0.1:1/x", tt.cfg); app.ErrorCode(err) != app.EINVALID {
				t.Errorf("err = %v, want invalid", err)
			}
		})
	}
}
