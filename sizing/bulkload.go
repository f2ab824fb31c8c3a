package sizing

// BulkLoadSettings are the PostgreSQL settings a primary takes while the
// CRM's records are first loaded (COPY, then the secondary indexes), and
// gives back afterwards: they trade crash-recovery time, which does not
// matter for a load that is simply run again, for fewer checkpoints and
// faster index builds.
type BulkLoadSettings struct {
	// MaxWalSize lets the load write that much WAL between checkpoints:
	// with the default 1GB a 25M-record load checkpointed every few
	// seconds, writing each page again after every checkpoint.
	MaxWalSize string `json:"max_wal_size" yaml:"max_wal_size"`
	// CheckpointTimeout is long enough that time does not start the
	// checkpoints max_wal_size holds back.
	CheckpointTimeout string `json:"checkpoint_timeout" yaml:"checkpoint_timeout"`
	// MaintenanceWorkMem is what each CREATE INDEX sorts in: twice the
	// everyday value, up to 4 GB.
	MaintenanceWorkMem string `json:"maintenance_work_mem" yaml:"maintenance_work_mem"`
}

const (
	minBulkWal        = 2 * giB
	maxBulkWal        = 64 * giB
	maxBulkMaintenMem = 4 * giB
	bulkCheckpoint    = "30min"
)

// BulkLoad returns the settings for loading the database this estimate
// describes: max_wal_size an eighth of its storage (whole GB, 2-64 GB), a
// 30 min checkpoint_timeout, maintenance_work_mem RAM/8 up to 4 GB.
func (d DatabaseEstimate) BulkLoad() BulkLoadSettings {
	wal := d.StorageBytes / 8 / giB * giB
	mem := d.MemoryBytes
	if mem <= 0 {
		mem = minDBMemory
	}
	return BulkLoadSettings{
		MaxWalSize:         pgSize(min(max(wal, minBulkWal), maxBulkWal)),
		CheckpointTimeout:  bulkCheckpoint,
		MaintenanceWorkMem: pgSize(min(mem/8, maxBulkMaintenMem)),
	}
}
