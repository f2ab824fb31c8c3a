package loadgen

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestLedgerMissing: keys match whatever their case (the CRM lowers
// e-mail addresses), a key a promoted primary replays late is not lost,
// and a reader's error is the check's.
func TestLedgerMissing(t *testing.T) {
	keys := []string{"lt-Run-1", "lt-Run-2", "lt-Run-3"}
	tests := []struct {
		name    string
		reads   [][]string // what each call of the reader returns
		want    []string
		wantErr bool
	}{
		{"all there, any case", [][]string{{"lt-run-1", "lt-Run-2", "LT-RUN-3"}}, nil, false},
		{"replayed late", [][]string{{"lt-run-1"}, {"lt-run-1", "lt-run-2", "lt-run-3"}}, nil, false},
		{"lost", [][]string{{"lt-run-1"}, {"lt-run-1"}, {"lt-run-1", "lt-run-3"}}, []string{"lt-Run-2"}, false},
		{"unreadable", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			read := func(_ context.Context, run string) ([]string, error) {
				if run != "Run" {
					t.Errorf("read run %q, want Run", run)
				}
				if calls >= len(tt.reads) {
					return nil, errors.New("no database")
				}
				calls++
				return tt.reads[calls-1], nil
			}
			got, err := LedgerMissing(context.Background(), read, "Run", keys)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Errorf("LedgerMissing = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
