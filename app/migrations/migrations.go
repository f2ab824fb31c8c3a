// Package migrations holds the CRM's schema as versioned SQL files embedded
// in the binary and applies them with goose (migration 2, the indexes, as
// a Go migration that builds them two at a time: indexes.go). Running them
// twice, or from two processes at once, is safe: goose records applied
// versions and a PostgreSQL advisory lock serializes concurrent runs.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/crmplan/crmplan/app"
)

//go:embed sql/*.sql
var files embed.FS

// Latest is the version the embedded migrations lead to; /readyz compares
// it with the database.
const Latest int64 = 8

// Schema is the version with all tables but no secondary indexes: `crm
// seed` loads data there and migrates up afterwards.
const Schema int64 = 1

func provider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	indexes, err := indexesMigration()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(indexes))
}

// UpTo applies the migrations up to version (Latest for all) and returns the
// version the database is at afterwards.
func UpTo(ctx context.Context, databaseURL string, version int64, log *slog.Logger) (int64, error) {
	return run(ctx, databaseURL, log, func(p *goose.Provider) ([]*goose.MigrationResult, error) {
		return p.UpTo(ctx, version)
	})
}

// DownTo reverts the migrations above version.
func DownTo(ctx context.Context, databaseURL string, version int64, log *slog.Logger) (int64, error) {
	return run(ctx, databaseURL, log, func(p *goose.Provider) ([]*goose.MigrationResult, error) {
		return p.DownTo(ctx, version)
	})
}

func run(ctx context.Context, databaseURL string, log *slog.Logger, step func(*goose.Provider) ([]*goose.MigrationResult, error)) (int64, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// Not %w: the parse error may quote the URL with its password.
		return 0, app.Errorf(app.EINVALID, "not a PostgreSQL URL like postgres://user:password@host:5432/crm").In("--database-url")
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return 0, app.Errorf(app.EINTERNAL, "migrations: %w", err)
	}
	results, err := step(p)
	for _, r := range results {
		if r.Error == nil {
			log.Info("migration applied", "version", r.Source.Version, "direction", r.Direction, "duration", r.Duration)
		}
	}
	if err != nil {
		return 0, app.Errorf(app.EUNAVAILABLE, "migrations: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// Current returns the version of the database behind pool, 0 before the
// first migration.
func Current(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var v int64
	err := pool.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // no goose table yet
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migration version: %w", err)
	}
	return v, nil
}
