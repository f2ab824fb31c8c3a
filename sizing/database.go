package sizing

import (
	"fmt"
	"math"
)

const (
	kiB = 1 << 10
	miB = 1 << 20
	giB = 1 << 30

	minDBMemory = 4 * giB
	// cacheShare is the share of RAM effective_cache_size claims; RAM is
	// sized so that this share holds the working set.
	cacheShare = 0.75
	// poolHeadroom multiplies the mean in-flight requests (Little's law) so
	// the pool also covers the bursts above the mean.
	poolHeadroom = 2
	// reservedConnections covers superuser_reserved_connections (3) plus
	// admin, monitoring and migration sessions.
	reservedConnections = 13
	minMaxConnections   = 20
	// etlPool is what a migration server may open: the deployment gives it
	// no pool size, so it runs with crm's default (app/store's
	// DefaultMaxConns), which its share of max_connections must cover.
	etlPool           = 16
	maxMaintenanceMem = 2 * giB
	minWorkMem        = 64 * kiB
)

// dbClient reports whether servers of role keep a connection pool to the
// primary: the app servers and the back-end servers that the deployment
// gives the database's URL (workers, migration servers). The integrators
// (seed 000's ESB, seed 002's ARSRV) and the scheduler never connect: they
// reach the data through the api servers. Counting them made
// max_connections rise when the integrator tier scaled out, and PostgreSQL
// takes a higher max_connections only by a restart: every request failed
// meanwhile, against the seed's "a new ARSRV can be added without any
// downtime".
func dbClient(role string) bool {
	switch role {
	case "api", "worker", "etl":
		return true
	}
	return false
}

// database estimates storage, memory, pools and PostgreSQL settings.
//
// Storage is records at the end of the horizon times the row size, plus
// indexes. The working set is the share of it touched daily; RAM is sized so
// that effective_cache_size (75 % of RAM) holds it, rounded up to a power of
// two GiB (servers come in such sizes), at least 4 GiB.
//
// Connections follow Little's law: the requests in flight at the primary are
// its arrival rate times its mean response time. Each app server's pool is
// its share of the larger of twice that (for bursts) and 2*cores+1 (the
// PostgreSQL wiki's rule for the connections a server's cores keep busy),
// and at least 2. A primary at or below its target utilization has fewer
// requests in flight than cores, so the cores rule sets the pool until the
// primary queues (a fixed or capped primary near saturation); then Little's
// law asks for more. Every api and worker server gets such a pool, every
// migration server crm's default pool of 16; max_connections adds 13
// reserved slots and rounds up to ten.
// The api servers share one total, so scaling that tier leaves
// max_connections about where it was; a worker or migration server added
// brings a pool more.
//
// Settings follow PGTune's web-application profile: shared_buffers 25 % of
// RAM, effective_cache_size 75 %, maintenance_work_mem RAM/16 up to 2 GB,
// work_mem (RAM - shared_buffers) / (3 * max_connections) / parallel workers
// per gather (half the cores, 1 to 4).
func (p *plan) database(e Estimate) DatabaseEstimate {
	d := p.model.Database
	storage := float64(e.Workload.DesignRecords) * float64(d.RowBytes) * (1 + d.IndexOverhead)
	ws := storage * d.WorkingSetShare
	out := DatabaseEstimate{StorageBytes: int64(storage), WorkingSetBytes: int64(ws), MemoryBytes: d.MemoryBytes}
	if out.MemoryBytes == 0 {
		out.MemoryBytes = memoryFor(ws)
	}

	dbCores, inFlight := defaultCores, 0.0
	appServers, clientServers, etlServers := 0, 0, 0
	for i, t := range e.Tiers {
		switch t.Role {
		case "db-primary":
			dbCores = t.Cores
			inFlight += t.ArrivalRate * p.tiers[i].used * t.PredictedMeanMs / 1000
		case "api":
			appServers += t.Servers
		case "etl":
			etlServers += t.Servers
		}
		if dbClient(t.Role) && t.Role != "etl" {
			clientServers += t.Servers
		}
	}
	appServers = max(appServers, 1)
	clientServers = max(clientServers, appServers)
	total := math.Max(poolHeadroom*inFlight, float64(2*dbCores+1))
	out.PoolPerAppServer = max(int(math.Ceil(total/float64(appServers))), 2)

	maxConn := out.PoolPerAppServer*clientServers + etlPool*etlServers + reservedConnections
	maxConn = max((maxConn+9)/10*10, minMaxConnections)
	out.Settings = pgSettings(out.MemoryBytes, maxConn, dbCores)
	return out
}

// memoryFor returns the RAM whose cache share holds ws bytes.
func memoryFor(ws float64) int64 {
	need := ws / cacheShare
	mem := int64(minDBMemory)
	for float64(mem) < need && mem < 1<<50 {
		mem *= 2
	}
	return mem
}

// pgSettings returns PGTune-style settings for a server with mem bytes of
// RAM, maxConn connections and cores cores.
func pgSettings(mem int64, maxConn, cores int) PGSettings {
	shared := mem / 4
	workers := int64(min(max((cores+1)/2, 1), 4))
	work := (mem - shared) / (3 * int64(maxConn)) / workers
	return PGSettings{
		SharedBuffers:      pgSize(shared),
		EffectiveCacheSize: pgSize(mem * 3 / 4),
		WorkMem:            pgSize(max(work, minWorkMem)),
		MaintenanceWorkMem: pgSize(min(mem/16, maxMaintenanceMem)),
		MaxConnections:     maxConn,
	}
}

// pgSize formats bytes as postgresql.conf does: whole kB, MB, GB or TB,
// the largest unit that divides the size (rounded down to a kB) exactly.
func pgSize(bytes int64) string {
	kb := bytes / kiB
	for _, u := range []struct {
		name string
		kb   int64
	}{{"TB", giB}, {"GB", miB}, {"MB", kiB}} {
		if kb >= u.kb && kb%u.kb == 0 {
			return fmt.Sprintf("%d%s", kb/u.kb, u.name)
		}
	}
	return fmt.Sprintf("%dkB", kb)
}
