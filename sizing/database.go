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
	// minPool is the smallest pool a server of a db-client tier gets: one
	// connection for its work, one for its readiness checks.
	minPool = 2
	// scaleRoom is how many servers a db-client tier may have before its
	// total must grow: every tier's total holds at least minPool
	// connections for each of scaleRoom servers, so changing its server
	// count up to there leaves max_connections as it is. 16 connections a
	// tier is also crm's default pool (app/store's DefaultMaxConns), which
	// a single worker or migration server ran with before.
	scaleRoom         = 8
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
// Connections: every db-client tier (api, worker, etl) has one pool total
// for the whole tier, whatever its server count, and each of its servers
// keeps its share, rounded down so that the shares never sum above the
// total (tierPools). max_connections is the tiers' totals plus 13 reserved
// slots, rounded up to ten. So a tier scaled out or in within its totals
// leaves max_connections, and every setting PostgreSQL takes only at a
// restart, as it was: its servers take their new share in place, and no
// request fails for a restarted database.
//
// The api tier's total follows Little's law: the requests in flight at
// the primary are its arrival rate times its mean response time; the
// total is the larger of twice that (for bursts) and 2*cores+1 (the
// PostgreSQL wiki's rule for the connections a server's cores keep busy).
// A primary at or below its target utilization has fewer requests in
// flight than cores, so the cores rule sets it until the primary queues (a
// fixed or capped primary near saturation); then Little's law asks for
// more. Every tier's total is at least 2 connections for each of 8
// servers (scaleRoom): a pool is a cap, not connections held open, so the
// room costs the primary only slots.
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
	for i, t := range e.Tiers {
		if t.Role == "db-primary" {
			dbCores = t.Cores
			inFlight += t.ArrivalRate * p.tiers[i].used * t.PredictedMeanMs / 1000
		}
	}
	apiTotal := int(math.Ceil(math.Max(poolHeadroom*inFlight, float64(2*dbCores+1))))
	out.Pools = tierPools(e.Tiers, apiTotal)
	maxConn := reservedConnections
	for _, tp := range out.Pools {
		maxConn += tp.Total
	}
	out.PoolPerAppServer = out.Pool("api")
	maxConn = max((maxConn+9)/10*10, minMaxConnections)
	out.Settings = pgSettings(out.MemoryBytes, maxConn, dbCores)
	return out
}

// tierPools gives every db-client tier of tiers its pool: a total of
// apiTotal for the api tier (at least scaleRoom shares of minPool, as
// every tier's), and each server the total divided by the servers,
// rounded down, at least minPool. Past scaleRoom servers (total/minPool
// in general) the shares are minPool and the total is what they sum to:
// it grows with the tier, and so does max_connections, which PostgreSQL
// takes only by a restart. ScalesTo says where that begins.
func tierPools(tiers []TierEstimate, apiTotal int) []TierPool {
	var out []TierPool
	at := map[string]int{}
	for _, t := range tiers {
		if !dbClient(t.Role) {
			continue
		}
		i, ok := at[t.Role]
		if !ok {
			// A role placed in several zones is one tier of servers.
			i, at[t.Role] = len(out), len(out)
			out = append(out, TierPool{Role: t.Role})
		}
		out[i].Servers += t.Servers
	}
	for i := range out {
		tp := &out[i]
		room := minPool * scaleRoom
		if tp.Role == "api" {
			room = max(room, apiTotal)
		}
		servers := max(tp.Servers, 1)
		tp.Total = max(room, minPool*servers)
		tp.PerServer = max(tp.Total/servers, minPool)
		tp.ScalesTo = room / minPool
	}
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
