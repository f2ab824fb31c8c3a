package provision

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/health"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/topology"
)

// Status is the live state of a deployed stack.
type Status struct {
	Stack  string       `json:"stack"`
	WebURL string       `json:"web_url"`
	Hosts  []HostStatus `json:"hosts"`
}

// HostStatus is one host: its supervised processes and its health.
type HostStatus struct {
	Name      string          `json:"name"`
	Role      string          `json:"role"`
	Zone      string          `json:"zone"`
	Address   string          `json:"address"`
	Port      int             `json:"port"`
	Healthy   bool            `json:"healthy"`
	Health    string          `json:"health"` // "ok", or why not
	Processes []ProcessStatus `json:"processes"`
	// Replication is set on replica hosts, as the primary sees them.
	Replication *Replication `json:"replication,omitempty"`
	// Mesh is the host's Receptor node ("up, pid N", "DOWN") and Release
	// the CRM release its agent installed (meshstatus.go).
	Mesh    string `json:"mesh,omitempty"`
	Release string `json:"release,omitempty"`
}

// ProcessStatus is one supervised process.
type ProcessStatus struct {
	Name          string `json:"name"`
	Running       bool   `json:"running"`
	SupervisorPID int    `json:"supervisor_pid,omitempty"`
	PID           int    `json:"pid,omitempty"`
	Restarts      int    `json:"restarts"`
	LastExit      string `json:"last_exit,omitempty"`
	Log           string `json:"log"`
}

// Replication is a replica's row of pg_stat_replication on the primary.
type Replication struct {
	State     string  `json:"state"`      // "streaming" when healthy
	SyncState string  `json:"sync_state"` // "async" or "sync"/"quorum"
	LagBytes  int64   `json:"lag_bytes"`  // WAL the replica has yet to replay
	LagSecs   float64 `json:"lag_seconds"`
}

// GetStatus inspects every host of a deployed stack: processes from the
// supervisors' state files, health over HTTP (/healthz) or a PostgreSQL
// ping, and each replica's lag from pg_stat_replication on the primary.
func GetStatus(ctx context.Context, stateDir, stack string) (Status, error) {
	inv, err := stackdir.LoadInventory(stateDir, stack)
	if err != nil {
		return Status{}, err
	}
	st := Status{Stack: inv.Stack, WebURL: inv.WebURL}
	var primaryDir string
	for _, h := range inv.Hosts {
		if h.Role == string(topology.RoleDBPrimary) {
			primaryDir = h.Dir
		}
	}
	for _, h := range inv.Hosts {
		hs := HostStatus{Name: h.Name, Role: h.Role, Zone: h.Zone, Address: h.Address, Port: h.Port}
		hs.Processes = processes(h.Dir)
		hs.Mesh, hs.Release = meshStatus(h.Dir)
		hs.Healthy, hs.Health = hostHealth(ctx, h)
		if h.Role == string(topology.RoleDBReplica) && primaryDir != "" {
			hs.Replication, err = replication(ctx, primaryDir, h.Name)
			if err != nil && hs.Healthy {
				hs.Healthy, hs.Health = false, "replication: "+err.Error()
			}
		}
		st.Hosts = append(st.Hosts, hs)
	}
	return st, nil
}

func processes(dir string) []ProcessStatus {
	specs, _ := filepath.Glob(filepath.Join(dir, "*.spec.json"))
	sort.Strings(specs)
	out := []ProcessStatus{}
	for _, spec := range specs {
		proc, err := supervise.Load(spec)
		if err != nil {
			continue
		}
		ps := ProcessStatus{Name: proc.Name, Log: proc.LogPath()}
		ps.SupervisorPID, ps.Running = proc.Running()
		if state, err := proc.ReadState(); err == nil {
			ps.Restarts, ps.LastExit = state.Restarts, state.LastExit
			if ps.Running {
				ps.PID = state.ChildPID
			}
		}
		out = append(out, ps)
	}
	return out
}

func hostHealth(ctx context.Context, h stackdir.InventoryHost) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var err error
	switch topology.Role(h.Role) {
	case topology.RoleWeb, topology.RoleFailover, topology.RoleAPI, topology.RoleWorker, topology.RoleIntegration, topology.RoleDocStore, topology.RoleProxy, topology.RoleQueue, topology.RoleScheduler, topology.RoleCache, topology.RoleETL:
		err = health.Check(ctx, fmt.Sprintf("http://%s:%d/healthz", h.Address, h.Port))
	case topology.RoleDBPrimary, topology.RoleDBReplica:
		err = pgPing(ctx, h.Dir)
	default:
		return true, "ok (no process on the local target)"
	}
	if err != nil {
		return false, err.Error()
	}
	return true, "ok"
}

func pgPing(ctx context.Context, hostDir string) error {
	srv, err := pgserver.Open(PostgresDir(hostDir))
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// replication reads the replica's row on the primary.
func replication(ctx context.Context, primaryDir, name string) (*Replication, error) {
	srv, err := pgserver.Open(PostgresDir(primaryDir))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var r Replication
	err = conn.QueryRow(ctx, `
SELECT state, sync_state,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
       coalesce(extract(epoch FROM replay_lag), 0)::float8
FROM pg_stat_replication WHERE application_name = $1`, name).Scan(&r.State, &r.SyncState, &r.LagBytes, &r.LagSecs)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("%s is not streaming from the primary", name)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}
