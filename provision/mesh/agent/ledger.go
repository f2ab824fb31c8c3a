package agent

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// Ledger returns the ledger keys of q's run that the host's server holds
// in q's database. The generated k6 script (loadgen's script.js.tmpl) is
// the other half of this contract: it writes a key into every contact it
// creates (e-mail KEY@ledger.example) and activity (subject ending in
// [KEY]).
func (h Host) Ledger(ctx context.Context, q wire.LedgerQuery) (wire.Ledger, error) {
	out := wire.Ledger{Keys: []string{}}
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return out, fmt.Errorf("ledger: host %s has no database server: %w", filepath.Base(h.Dir), err)
	}
	conn, err := pgx.Connect(ctx, srv.URL(q.Database))
	if err != nil {
		return out, fmt.Errorf("ledger: connect to %s: %w", srv.Addr(), err)
	}
	defer conn.Close(context.Background())
	prefix := "lt-" + q.Run + "-"
	rows, err := conn.Query(ctx, `
		SELECT split_part(email, '@', 1) FROM contacts WHERE email LIKE lower($1) || '%@ledger.example'
		UNION ALL
		SELECT coalesce(substring(subject from '\[(lt-[^]]+)\]$'), '') FROM activities WHERE subject LIKE '%[' || $1 || '%]'`, prefix)
	if err != nil {
		return out, fmt.Errorf("ledger: %w", err)
	}
	out.Keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return out, fmt.Errorf("ledger: %w", err)
	}
	return out, nil
}
