package loadgen

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LedgerMissing returns which of keys (acknowledged creates of run) the
// CRM database at dsn does not hold. The generated script writes a key
// into every contact it creates (e-mail KEY@ledger.example) and activity
// (subject ending in [KEY]); this is the other half of that contract.
//
// A freshly promoted primary may still be replaying: a key counts as lost
// only if it is still missing after a few tries two seconds apart.
func LedgerMissing(ctx context.Context, dsn, run string, keys []string) ([]string, error) {
	var missing []string
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(2 * time.Second):
			}
		}
		present, err := ledgerPresent(ctx, dsn, run)
		if err != nil {
			return nil, err
		}
		missing = missing[:0]
		for _, k := range keys {
			if !present[strings.ToLower(k)] {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			break
		}
	}
	return missing, nil
}

func ledgerPresent(ctx context.Context, dsn, run string) (map[string]bool, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: connect to the primary: %w", err)
	}
	defer conn.Close(ctx)
	prefix := "lt-" + run + "-"
	rows, err := conn.Query(ctx, `
		SELECT split_part(email, '@', 1) FROM contacts WHERE email LIKE lower($1) || '%@ledger.example'
		UNION ALL
		SELECT coalesce(substring(subject from '\[(lt-[^]]+)\]$'), '') FROM activities WHERE subject LIKE '%[' || $1 || '%]'`, prefix)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	present := make(map[string]bool, len(keys))
	for _, k := range keys {
		// The CRM stores e-mail addresses in lower case; run ids have capitals.
		present[strings.ToLower(k)] = true
	}
	return present, nil
}
