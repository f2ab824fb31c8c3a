package loadgen

import (
	"context"
	"strings"
	"time"
)

// LedgerReader returns the ledger keys of run that the CRM's database
// holds. The generated script writes a key into every contact it creates
// (e-mail KEY@ledger.example) and activity (subject ending in [KEY]); a
// reader finds them there (on a deployed stack, a unit on the primary's
// host: provision.LedgerKeys).
type LedgerReader func(ctx context.Context, run string) ([]string, error)

// LedgerMissing returns which of keys (acknowledged creates of run) read
// does not find. A freshly promoted primary may still be replaying: a key
// counts as lost only if it is still missing after a few tries two
// seconds apart.
func LedgerMissing(ctx context.Context, read LedgerReader, run string, keys []string) ([]string, error) {
	var missing []string
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(2 * time.Second):
			}
		}
		found, err := read(ctx, run)
		if err != nil {
			return nil, err
		}
		present := make(map[string]bool, len(found))
		for _, k := range found {
			// The CRM stores e-mail addresses in lower case; run ids have capitals.
			present[strings.ToLower(k)] = true
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
