package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
)

// seededSearch is seeded60k's database and a store over it whose
// thresholds make a last name's 310 matches dense, as its 129,342 matches
// among 7.5M contacts are at 25M records.
func seededSearch(t *testing.T) (*Store, *pgxpool.Pool) {
	t.Helper()
	url, pool := seeded60k(t)
	s, err := Open(context.Background(), Config{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.dense, s.walk = 100, 300
	return s, pool
}

// TestSearchWalkIsBounded: a dense search sorted by the very column it
// matches (a last name, by last name) walks at most the bound of the sort
// index before it gives way to the sort of its matches. Unbounded, that
// walk read every contact sorting before "Schmidt": 14.5 s at 25M records,
// with 4.1M buffers read (BENCHMARKS.md). The plan and its row counts are
// checked, not a time.
func TestSearchWalkIsBounded(t *testing.T) {
	s, pool := seededSearch(t)
	admin := &app.Principal{User: app.User{Role: app.RoleAdmin}}
	r, _ := app.ResourceNamed("contacts")
	q, err := r.ParseList(url.Values{"q": {"schmidt"}, "sort": {"name"}})
	if err != nil {
		t.Fatal(err)
	}
	walk := listSQL(admin, r, q, s.walk, false)
	scanned := scanRows(t, pool, walk.sql, walk.args, "contacts_name")
	if scanned > s.walk {
		t.Errorf("the walk read %d rows of contacts_name, want at most %d", scanned, s.walk)
	}
	// Marketing's campaigns read newest first by id: their walk is of the
	// primary key, bounded the same way.
	byID, err := r.ParseList(url.Values{"q": {"schmidt"}, "sort": {"-id"}})
	if err != nil {
		t.Fatal(err)
	}
	idWalk := listSQL(admin, r, byID, s.walk, false)
	if n := scanRows(t, pool, idWalk.sql, idWalk.args, "contacts_pkey"); n > s.walk || n == 0 {
		t.Errorf("the walk by id read %d rows of contacts_pkey, want 1 to %d", n, s.walk)
	}
	unbounded := listSQL(admin, r, q, 0, false) // the walk as it was
	t.Logf("a page of q=schmidt sorted by name: the bounded walk read %d rows of contacts_name, the unbounded one %d",
		scanned, scanRows(t, pool, unbounded.sql, unbounded.args, "contacts_name"))
	sorted := listSQL(admin, r, q, 0, true)
	plan := strings.Join(explain(t, pool, sorted.sql, sorted.args...), " / ")
	if !strings.Contains(plan, "Bitmap Index Scan on contacts_search") || strings.Contains(plan, "on contacts_name") {
		t.Errorf("the sort of the matches: plan %s, want the search index and not the name index", plan)
	}
	// Dense or not, and how far to walk, come from the planner's estimate.
	for _, tt := range []struct {
		tsquery  string
		min, max int
	}{{"schmidt:*", 150, 620}, {"okafor:*", 0, 99}, {"manager:*", 3000, 12000}} {
		var want int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM contacts WHERE search @@ to_tsquery('simple', $1)", tt.tsquery).Scan(&want); err != nil {
			t.Fatal(err)
		}
		got, err := s.expectedMatches(context.Background(), pool, admin, r, tt.tsquery)
		if err != nil || got < tt.min || got > tt.max {
			t.Errorf("expected matches of %s = %d (%v), want %d-%d (there are %d)", tt.tsquery, got, err, tt.min, tt.max, want)
		}
	}
	// The walk (300 rows from "A") cannot fill a page of Schmidts, so
	// List answers from the sort, and finds them.
	page := list(t, s, admin, "contacts", "q=schmidt&sort=name")
	if got := names(page, "last_name"); !strings.HasPrefix(got, "Schmidt,Schmidt") {
		t.Errorf("q=schmidt sorted by name: %s", got)
	}
}

// scanRows EXPLAIN ANALYZEs sql and returns the rows the scan of index
// read: those it returned and those its filter removed.
func scanRows(t *testing.T, pool *pgxpool.Pool, sql string, args []any, index string) int {
	t.Helper()
	plan := explainJSON(t, pool, "ANALYZE, FORMAT JSON", sql, args...)
	var rows func(map[string]any) (float64, bool)
	rows = func(n map[string]any) (float64, bool) {
		if n["Index Name"] == index {
			r, _ := n["Actual Rows"].(float64)
			removed, _ := n["Rows Removed by Filter"].(float64)
			return r + removed, true
		}
		subs, _ := n["Plans"].([]any)
		for _, sub := range subs {
			if m, ok := sub.(map[string]any); ok {
				if r, found := rows(m); found {
					return r, true
				}
			}
		}
		return 0, false
	}
	r, found := rows(plan)
	if !found {
		t.Fatalf("plan %v: no scan of %s", plan, index)
	}
	return int(r)
}

// TestSearchListsAreExact: whichever way a search is answered (the sort
// of few matches, a walk that fills its page, a walk that gives way to
// the sort), every page of it, followed by its cursors, is the plain
// query's result, for an admin and for a rep, and its total is the plain
// count.
func TestSearchListsAreExact(t *testing.T) {
	s, pool := seededSearch(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name, query string
		owners      []int64
	}{
		{"few matches", "q=okafor", nil},
		{"a last name by name: the walk gives way", "q=schmidt&sort=name", nil},
		{"a title word by update: the walk fills it", "q=manager&sort=-updated", nil},
		{"a title word by name, a rep's", "q=manager&sort=name", []int64{3}},
		{"a prefix by name, descending", "q=sch&sort=-name", nil},
		{"a last name by id, newest first: marketing's", "q=schmidt&sort=-id", nil},
		{"a prefix by id, a rep's", "q=sch&sort=id", []int64{3}},
		{"a word nothing matches, by id", "q=northwind&sort=-id", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &app.Principal{User: app.User{Role: app.RoleAdmin}}
			if tt.owners != nil {
				p = &app.Principal{User: app.User{ID: tt.owners[0], Role: app.RoleRep}, Team: tt.owners}
			}
			r, _ := app.ResourceNamed("contacts")
			v, _ := url.ParseQuery(tt.query + "&limit=50&total=1")
			q, err := r.ParseList(v)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			var total *int64
			for pages := 0; ; pages++ {
				page, err := s.List(ctx, p, r, q)
				if err != nil {
					t.Fatal(err)
				}
				if pages == 0 {
					total = page.Total
				}
				for _, it := range page.Items {
					var m struct{ ID int64 }
					_ = json.Unmarshal(it, &m)
					got = append(got, m.ID)
				}
				if page.Next == "" || pages > 1000 {
					break
				}
				v.Set("after", page.Next)
				if q, err = r.ParseList(v); err != nil {
					t.Fatal(err)
				}
			}
			want := plainSearch(t, pool, q, tt.owners)
			if !slices.Equal(got, want) {
				t.Errorf("%d ids over the pages, want the plain query's %d: first %v, want %v", len(got), len(want), head(got), head(want))
			}
			if total == nil || *total != int64(min(len(want), app.TotalCap)) {
				t.Errorf("total %v, want %d", total, len(want))
			}
		})
	}
}

// plainSearch is the search as plain SQL: every match, in the list's order.
func plainSearch(t *testing.T, pool *pgxpool.Pool, q app.ListQuery, owners []int64) []int64 {
	t.Helper()
	col := map[string]string{"name": "last_name", "updated": "updated_at", "id": "id"}[q.Sort]
	dir := ""
	if q.Desc {
		dir = " DESC"
	}
	sql := fmt.Sprintf(`SELECT id FROM contacts WHERE search @@ to_tsquery('simple', $1) AND ($2::bigint[] IS NULL OR owner_id = ANY($2))
		ORDER BY %s%s, id%s`, col, dir, dir)
	rows, err := pool.Query(context.Background(), sql, searchQuery(q.Words), owners)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 5)] }

// TestSearchCountsOnlyAGuess: the count of a search's matches runs only
// when the planner guessed at them. A last name the statistics know as
// common, whose short walk does not fill its page, goes on to the longer
// walk and the sort without it: at 25M records that count took 1.3 s on
// average, the index handing it every match before the first was read. A
// word no statistics know, that a walk does not find, is counted, and its
// few matches sorted.
func TestSearchCountsOnlyAGuess(t *testing.T) {
	s, _ := seededSearch(t)
	s.dense = 50 // under the planner's guess for 18,000 contacts, 90
	ctx := context.Background()
	admin := &app.Principal{User: app.User{Role: app.RoleAdmin}}
	r, _ := app.ResourceNamed("contacts")
	guess, err := s.expectedMatches(ctx, s.pri(), admin, r, unknownWord)
	if err != nil || guess < s.dense {
		t.Fatalf("the planner's guess is %d matches (%v): the count is not reached below %d", guess, err, s.dense)
	}
	for _, tt := range []struct {
		query        string
		counts       uint64
		wantPrefix   string
		wantNoResult bool
	}{
		{"q=schmidt&sort=name", 0, "Schmidt,Schmidt", false},
		{"q=northwind&sort=-id", 1, "", true},
	} {
		before := s.SearchSteps()
		page := list(t, s, admin, "contacts", tt.query)
		after := s.SearchSteps()
		if got := after["count"] - before["count"]; got != tt.counts {
			t.Errorf("%s: %d counts, want %d (steps before %v, after %v)", tt.query, got, tt.counts, before, after)
		}
		if after["walk"] == before["walk"] || after["sort"] != before["sort"]+1 {
			t.Errorf("%s: steps before %v, after %v: want a walk, then the sort", tt.query, before, after)
		}
		if got := names(page, "last_name"); !strings.HasPrefix(got, tt.wantPrefix) || (got == "") != tt.wantNoResult {
			t.Errorf("%s: %q", tt.query, got)
		}
	}
}
