package migrations

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/crmplan/crmplan/pgserver"
)

func TestUpTwiceConcurrentlyAndDown(t *testing.T) {
	srv := pgserver.StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := srv.URL("postgres")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = UpTo(ctx, url, Latest, log)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := UpTo(ctx, url, Latest, log)
	if err != nil || v != Latest {
		t.Fatalf("third run: version %d, err %v; want %d", v, err, Latest)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if cur, err := Current(ctx, pool); err != nil || cur != Latest {
		t.Fatalf("Current = %d, %v; want %d", cur, err, Latest)
	}
	if v, err := DownTo(ctx, url, Schema, log); err != nil || v != Schema {
		t.Fatalf("DownTo = %d, %v; want %d", v, err, Schema)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE indexname = 'contacts_search'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("contacts_search index after DownTo: %d, %v", n, err)
	}
}

func TestCurrentBeforeMigrations(t *testing.T) {
	srv := pgserver.StartTest(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if v, err := Current(ctx, pool); err != nil || v != 0 {
		t.Fatalf("Current = %d, %v; want 0", v, err)
	}
}

func TestLatestMatchesFiles(t *testing.T) {
	db := stdlib.OpenDB(pgx.ConnConfig{})
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		t.Fatal(err)
	}
	sources := p.ListSources()
	if last := sources[len(sources)-1].Version; last != Latest {
		t.Errorf("the last migration file is version %d, Latest says %d", last, Latest)
	}
}
