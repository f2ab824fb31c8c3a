package migrations

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"github.com/pressly/goose/v3"
	"golang.org/x/sync/errgroup"
)

// indexesSQL is migration 2, the secondary indexes (see its header).
//
//go:embed indexes/00002_indexes.sql
var indexesSQL string

// indexBuilders is how many of migration 2's CREATE INDEX statements run at
// once. On an empty database (a new stack) it makes no difference; after
// `crm seed` of 25M records the indexes took 5-7 min one at a time, most
// of it in the GIN builds, which PostgreSQL 15 does in one process each,
// while a B-tree build takes parallel workers. Two at a time keep the
// machine class's 2 cores busy; more only contend.
const indexBuilders = 2

// indexesMigration is migration 2 as a goose Go migration: its Up
// statements run indexBuilders at a time, GIN builds first (the longest),
// its Down statements one after the other. Neither runs in a transaction
// (a transaction is one connection, one statement at a time).
func indexesMigration() (*goose.Migration, error) {
	up, down, err := sections(indexesSQL)
	if err != nil {
		return nil, fmt.Errorf("indexes/00002_indexes.sql: %w", err)
	}
	return goose.NewGoMigration(2,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return execAtOnce(ctx, db, buildOrder(up), indexBuilders) }},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return execAtOnce(ctx, db, down, 1) }},
	), nil
}

// sections splits a file of "-- +goose Up" and "-- +goose Down" sections
// into their statements: comment lines dropped, a statement ending at a
// line ending in a semicolon. Enough for CREATE and DROP statements; not a
// parser for function bodies or quoted semicolons, which this file has not.
func sections(text string) (up, down []string, err error) {
	var cur *[]string
	var stmt strings.Builder
	for n, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "-- +goose Up":
			cur = &up
		case trimmed == "-- +goose Down":
			cur = &down
		case trimmed == "" || strings.HasPrefix(trimmed, "--"):
		case cur == nil:
			return nil, nil, fmt.Errorf("line %d: a statement before -- +goose Up", n+1)
		default:
			if stmt.Len() > 0 {
				stmt.WriteByte(' ')
			}
			stmt.WriteString(trimmed)
			if strings.HasSuffix(trimmed, ";") {
				*cur = append(*cur, stmt.String())
				stmt.Reset()
			}
			continue
		}
		if stmt.Len() > 0 {
			return nil, nil, fmt.Errorf("line %d: %q does not end in a semicolon", n+1, stmt.String())
		}
	}
	if stmt.Len() > 0 {
		return nil, nil, fmt.Errorf("the file ends inside %q", stmt.String())
	}
	if len(up) == 0 || len(down) == 0 {
		return nil, nil, fmt.Errorf("want statements in both -- +goose Up and -- +goose Down, got %d and %d", len(up), len(down))
	}
	return up, down, nil
}

// buildOrder puts the GIN builds first, keeping the file's order
// otherwise: the longest builds start while the other builder works
// through the short ones, rather than one of them being left alone at the
// end.
func buildOrder(stmts []string) []string {
	out := append([]string(nil), stmts...)
	sort.SliceStable(out, func(i, j int) bool { return isGIN(out[i]) && !isGIN(out[j]) })
	return out
}

func isGIN(stmt string) bool { return strings.Contains(strings.ToUpper(stmt), " USING GIN ") }

// execAtOnce runs stmts on db, n at a time, in order of starting; the
// first error stops the ones not started yet.
func execAtOnce(ctx context.Context, db *sql.DB, stmts []string, n int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, s := range stmts {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			return nil
		})
	}
	return g.Wait()
}
