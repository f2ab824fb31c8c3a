package store

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/app/seed"
	"github.com/crmplan/crmplan/pgserver"
)

// planNodes flattens an EXPLAIN (FORMAT JSON) plan into "Node Type on
// Index Name" strings.
func planNodes(plan map[string]any) []string {
	name, _ := plan["Node Type"].(string)
	if idx, ok := plan["Index Name"].(string); ok {
		name += " on " + idx
	} else if rel, ok := plan["Relation Name"].(string); ok {
		name += " on " + rel
	}
	out := []string{name}
	subs, _ := plan["Plans"].([]any)
	for _, s := range subs {
		if m, ok := s.(map[string]any); ok {
			out = append(out, planNodes(m)...)
		}
	}
	return out
}

// seeded60k is a database crm seed filled with 60k records (18,000
// contacts, about 310 for each last name; activities dated up to now, this
// week's too), and a pool on it.
func seeded60k(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	srv := pgserver.StartTest(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "seeded"); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Run(ctx, srv.URL("seeded"), seed.Config{Records: 60_000, Reps: 5, PasswordKey: []byte("seeded plan test key"), Seed: 7,
		Now: time.Now().UTC(), Hash: secret.Params{Memory: 64, Time: 1, Threads: 1}, Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, srv.URL("seeded"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return srv.URL("seeded"), pool
}

func explain(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	return planNodes(explainJSON(t, pool, "FORMAT JSON", sql, args...))
}

// explainJSON returns the plan of sql as EXPLAIN (options) gives it.
func explainJSON(t *testing.T, pool *pgxpool.Pool, options, sql string, args ...any) map[string]any {
	t.Helper()
	var raw []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN ("+options+") "+sql, args...).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var plans []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("plan %s: %v", raw, err)
	}
	return plans[0].Plan
}

// TestActivityReportPlan: on a seeded database (a modest 60k records,
// created over two years, as crm seed makes them) the activities report
// reads the week with one index-only scan of activities_created_owner,
// never a sequential scan or a heap-fetching index scan of activities,
// for an admin (all owners) and for a team; and it counts what a plain
// query counts. The plan, not a time, is what is checked: at 25M records
// the heap-fetching plan took the report class's p95 to 593 ms.
func TestActivityReportPlan(t *testing.T) {
	ctx := context.Background()
	url, pool := seeded60k(t)
	for _, tt := range []struct {
		name   string
		owners []int64
	}{{"all owners", nil}, {"a team", []int64{3, 4}}} {
		t.Run(tt.name, func(t *testing.T) {
			nodes := explain(t, pool, activityReportSQL, tt.owners)
			plan := strings.Join(nodes, " / ")
			if !strings.Contains(plan, "Index Only Scan on activities_created_owner") {
				t.Errorf("plan %s: want an index-only scan of activities_created_owner", plan)
			}
			for _, n := range nodes {
				if strings.HasSuffix(n, " on activities") || n == "Index Scan on activities_created_owner" {
					t.Errorf("plan %s reads the activities heap (%s)", plan, n)
				}
			}
			var want int64
			q := `SELECT count(*) FROM activities WHERE created_at >= date_trunc('week', now())
				AND created_at < date_trunc('week', now()) + interval '7 days' AND ($1::bigint[] IS NULL OR owner_id = ANY($1))`
			if err := pool.QueryRow(ctx, q, tt.owners).Scan(&want); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, Config{DatabaseURL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := &app.Principal{User: app.User{Role: app.RoleAdmin}}
			if tt.owners != nil {
				p = &app.Principal{User: app.User{Role: app.RoleManager}, Team: tt.owners}
			}
			rep, err := s.ActivityReport(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var got int64
			for _, d := range rep.Days {
				got += d.Count
			}
			if len(rep.Days) != 7 || got != want || want == 0 {
				t.Errorf("report %+v counts %d over %d days; want %d (above 0) over 7", rep.Days, got, len(rep.Days), want)
			}
		})
	}
}
