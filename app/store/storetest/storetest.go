// Package storetest gives tests a migrated CRM database on a throw-away
// PostgreSQL server and a store.Store over it.
package storetest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/crmplan/crmplan/app/migrations"
	"github.com/crmplan/crmplan/app/store"
	"github.com/crmplan/crmplan/pgserver"
)

// Open starts PostgreSQL, migrates it and opens a store, all undone by
// t.Cleanup.
func Open(t testing.TB) (*store.Store, *pgserver.Server) {
	t.Helper()
	pg := pgserver.StartTest(t)
	ctx := context.Background()
	if _, err := migrations.UpTo(ctx, pg.URL("postgres"), migrations.Latest, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, store.Config{DatabaseURL: pg.URL("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, pg
}
