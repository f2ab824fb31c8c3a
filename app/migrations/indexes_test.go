package migrations

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/pgserver"
)

func TestSections(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		up, down []string
		err      string
	}{
		{name: "two sections, comments and a statement on two lines",
			text: "-- header\n-- +goose Up\nCREATE INDEX a ON t (x);\n\n-- why b\nCREATE INDEX b\n    ON t USING gin (y);\n-- +goose Down\nDROP INDEX a,\n    b;\n",
			up:   []string{"CREATE INDEX a ON t (x);", "CREATE INDEX b ON t USING gin (y);"},
			down: []string{"DROP INDEX a, b;"}},
		{name: "a statement before Up", text: "CREATE INDEX a ON t (x);\n-- +goose Up\n", err: "line 1: a statement before -- +goose Up"},
		{name: "no semicolon before the next section", text: "-- +goose Up\nCREATE INDEX a ON t (x)\n-- +goose Down\nDROP INDEX a;\n",
			err: `line 3: "CREATE INDEX a ON t (x)" does not end in a semicolon`},
		{name: "no semicolon before a blank line", text: "-- +goose Up\nCREATE INDEX a ON t (x);\n-- +goose Down\nDROP INDEX a\n", err: `line 5: "DROP INDEX a" does not end in a semicolon`},
		{name: "no semicolon at the end", text: "-- +goose Up\nCREATE INDEX a ON t (x);\n-- +goose Down\nDROP INDEX a", err: `the file ends inside "DROP INDEX a"`},
		{name: "no Down", text: "-- +goose Up\nCREATE INDEX a ON t (x);\n", err: "got 1 and 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, down, err := sections(tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(up, "|") != strings.Join(tt.up, "|") || strings.Join(down, "|") != strings.Join(tt.down, "|") {
				t.Errorf("sections = %q, %q; want %q, %q", up, down, tt.up, tt.down)
			}
		})
	}
}

func TestBuildOrderPutsGINFirst(t *testing.T) {
	in := []string{"CREATE INDEX a ON t (x);", "CREATE INDEX s ON t USING gin (y);", "CREATE INDEX b ON t (z);", "CREATE INDEX u ON v USING GIN (w);"}
	want := []string{in[1], in[3], in[0], in[2]}
	if got := buildOrder(in); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("buildOrder = %q, want %q", got, want)
	}
}

// TestIndexesResumeAndRevert: migration 2 builds every index its file
// names, also when a run cut short left some built (it runs outside a
// transaction, so a killed seed leaves them); going down drops them all.
func TestIndexesResumeAndRevert(t *testing.T) {
	srv := pgserver.StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := srv.URL("postgres")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := UpTo(ctx, url, Schema, log); err != nil {
		t.Fatal(err)
	}
	up, _, err := sections(indexesSQL)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// What a run killed after its first builds leaves.
	for _, stmt := range up[:3] {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := UpTo(ctx, url, 2, log); err != nil || v != 2 {
		t.Fatalf("UpTo(2) after a run cut short: version %d, %v", v, err)
	}
	name := regexp.MustCompile(`^CREATE INDEX IF NOT EXISTS (\S+) ON `)
	var names []string
	for _, stmt := range up {
		m := name.FindStringSubmatch(stmt)
		if m == nil {
			t.Fatalf("not a CREATE INDEX IF NOT EXISTS: %s", stmt)
		}
		names = append(names, m[1])
	}
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1)", names).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != len(names) {
		t.Errorf("after migration 2: %d of its %d indexes", n, len(names))
	}
	if v, err := DownTo(ctx, url, Schema, log); err != nil || v != Schema {
		t.Fatalf("DownTo(Schema) = %d, %v", v, err)
	}
	if n := count(); n != 0 {
		t.Errorf("after reverting migration 2: %d of its indexes left", n)
	}
}
