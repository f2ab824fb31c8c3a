package seed

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmplan/crmplan/pgserver"
)

func TestLoadLine(t *testing.T) {
	tests := []struct {
		name        string
		done, total int64
		took        time.Duration
		want        string
	}{
		{"a fifth in 10 s", 5_000_000, 25_000_000, 10 * time.Second, "seed: rows 5,000,000 of 25,000,000 (20.0 %), 500,000 rows/s, ETA 40s"},
		{"nothing yet", 0, 1000, time.Second, "seed: rows 0 of 1,000 (0.0 %), 0 rows/s, ETA unknown"},
		{"all sent", 1000, 1000, 2 * time.Second, "seed: all 1,000 rows sent in 2s; PostgreSQL is writing the last of them"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadLine(tt.done, tt.total, tt.took); got != tt.want {
				t.Errorf("loadLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIndexName(t *testing.T) {
	tests := []struct{ query, want string }{
		{"CREATE INDEX contacts_name ON contacts (last_name, id);", "contacts_name ON contacts (last_name, id)"},
		{"CREATE INDEX IF NOT EXISTS contacts_search ON contacts USING gin (search);", "contacts_search ON contacts USING gin (search)"},
		{"-- +goose Up\n-- comment\nCREATE INDEX activities_contact\n  ON activities (contact_id, updated_at, id)", "activities_contact ON activities (contact_id, updated_at, id)"},
		{"VACUUM ANALYZE", "VACUUM ANALYZE"},
	}
	for _, tt := range tests {
		if got := indexName(tt.query); got != tt.want {
			t.Errorf("indexName(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}

func TestCounterAddsEveryRow(t *testing.T) {
	var none counter
	none.row() // no total: nothing to count into, no panic
	none.flush()
	for _, rows := range []int{1, rowsPerTick - 1, rowsPerTick, 3*rowsPerTick + 7} {
		var total atomic.Int64
		c := counter{total: &total}
		for range rows {
			c.row()
		}
		c.flush()
		if got := total.Load(); got != int64(rows) {
			t.Errorf("%d rows counted as %d", rows, got)
		}
	}
}

// TestSeedProgress: a seed says when the rows are loaded (with the rate),
// when the indexes are built and when it is done; the periodic lines, as
// many as the ticks that fell inside each phase, are well formed.
func TestSeedProgress(t *testing.T) {
	srv := pgserver.StartTest(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "progress"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg := testCfg
	cfg.Progress, cfg.ProgressEvery = &out, time.Millisecond
	if _, err := Run(ctx, srv.URL("progress"), cfg); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	phases := []*regexp.Regexp{
		regexp.MustCompile(`^seed: 5,007 rows loaded in [0-9.]+m?s \([0-9,]+ rows/s\); building the indexes$`),
		regexp.MustCompile(`^seed: indexes built in [0-9.]+m?s; vacuum analyze$`),
		regexp.MustCompile(`^seed: vacuum analyze took [0-9.]+m?s; seeded in [0-9.]+m?s$`),
	}
	periodic := regexp.MustCompile(`^seed: (rows [0-9,]+ of 5,007 \([0-9.]+ %\), [0-9,]+ rows/s, ETA \S+|all 5,007 rows sent in \S+; PostgreSQL is writing the last of them|index .+: .+ \(indexes \S+ so far\))$`)
	next := 0
	for _, l := range lines {
		switch {
		case next < len(phases) && phases[next].MatchString(l):
			next++
		case !periodic.MatchString(l):
			t.Errorf("unexpected progress line %q", l)
		}
	}
	if next != len(phases) {
		t.Errorf("progress reached phase %d of %d:\n%s", next, len(phases), out.String())
	}
}
