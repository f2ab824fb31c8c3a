package sizing

import (
	"strconv"
	"strings"
	"testing"
)

func TestBulkLoad(t *testing.T) {
	tests := []struct {
		name string
		db   DatabaseEstimate
		want BulkLoadSettings
	}{
		{"small database: the floors", DatabaseEstimate{StorageBytes: 100 * miB, MemoryBytes: 4 * giB},
			BulkLoadSettings{MaxWalSize: "2GB", CheckpointTimeout: "30min", MaintenanceWorkMem: "512MB"}},
		{"an eighth of the storage in whole GB", DatabaseEstimate{StorageBytes: 57 * giB, MemoryBytes: 16 * giB},
			BulkLoadSettings{MaxWalSize: "7GB", CheckpointTimeout: "30min", MaintenanceWorkMem: "2GB"}},
		{"the caps", DatabaseEstimate{StorageBytes: 4096 * giB, MemoryBytes: 256 * giB},
			BulkLoadSettings{MaxWalSize: "64GB", CheckpointTimeout: "30min", MaintenanceWorkMem: "4GB"}},
		{"no memory given", DatabaseEstimate{StorageBytes: 16 * giB},
			BulkLoadSettings{MaxWalSize: "2GB", CheckpointTimeout: "30min", MaintenanceWorkMem: "512MB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.db.BulkLoad(); got != tt.want {
				t.Errorf("BulkLoad() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestBulkLoadOfSeed000 checks the reference workload gets more WAL room
// than PostgreSQL's default 1GB, whose checkpoints came 6 s apart at 25M.
func TestBulkLoadOfSeed000(t *testing.T) {
	e := mustSize(t, seed000())
	got := e.Database.BulkLoad()
	gb, err := strconv.Atoi(strings.TrimSuffix(got.MaxWalSize, "GB"))
	if err != nil || gb < 4 {
		t.Errorf("max_wal_size %q for %d bytes of storage; want at least 4GB", got.MaxWalSize, e.Database.StorageBytes)
	}
}
