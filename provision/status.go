package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// Status is the live state of a deployed stack.
type Status struct {
	Stack  string `json:"stack"`
	WebURL string `json:"web_url"`
	// Web is what an HTTPS request to WebURL met, trusting the stack's
	// CA: "certificate valid until ...", or why it failed.
	Web   string       `json:"web,omitempty"`
	Hosts []HostStatus `json:"hosts"`
}

// HostStatus is one host as its agent reports it through the mesh.
type HostStatus struct {
	Name      string          `json:"name"`
	Role      string          `json:"role"`
	Zone      string          `json:"zone"`
	Address   string          `json:"address"`
	Port      int             `json:"port"`
	Healthy   bool            `json:"healthy"`
	Health    string          `json:"health"` // "ok", or why not
	Processes []ProcessStatus `json:"processes"`
	// Roles are the crm roles the host runs, each with its health and
	// release.
	Roles []RoleStatus `json:"roles,omitempty"`
	// Replication is set on replica hosts, as the primary sees them.
	Replication *Replication `json:"replication,omitempty"`
	// MeshNode is the host's Receptor node, Mesh its state ("up, pid N",
	// "DOWN: why") and Release the CRM release its agent installed.
	MeshNode string `json:"mesh_node"`
	Mesh     string `json:"mesh"`
	Release  string `json:"release,omitempty"`
	// Namespace is an isolated host's network namespace (crmplan apply
	// --isolate): `ip netns exec NAMESPACE ...` runs there.
	Namespace string `json:"namespace,omitempty"`
}

// ProcessStatus is one supervised process.
type ProcessStatus = wire.Process

// RoleStatus is one crm role of a host.
type RoleStatus = wire.RoleHealth

// Replication is a replica's row of pg_stat_replication on the primary.
type Replication struct {
	State     string  `json:"state"`      // "streaming" when healthy
	SyncState string  `json:"sync_state"` // "async" or "sync"/"quorum"
	LagBytes  int64   `json:"lag_bytes"`  // WAL the replica has yet to replay
	LagSecs   float64 `json:"lag_seconds"`
}

// GetStatus asks every host's agent, through the mesh and all at once,
// for its processes, roles and PostgreSQL server, and judges each host's
// health from what it says; a replica's lag is what its primary's agent
// reads from pg_stat_replication. A host whose node is down or does not
// answer in time is reported down; the others are reported all the same.
func GetStatus(ctx context.Context, stateDir, stack string) (Status, error) {
	inv, err := stackdir.LoadInventory(stateDir, stack)
	if err != nil {
		return Status{}, err
	}
	// A watchdog may have promoted a replica since the last apply. One
	// whose host cannot be asked is reported down below, with the roles
	// as last applied.
	if p, err := syncPromotion(ctx, stackdir.Paths{StateDir: stateDir, Stack: stack}); err == nil {
		swapRoles(p, &inv)
	}
	reports, err := askHosts(ctx, stateDir, inv)
	if err != nil {
		return Status{}, err
	}
	st := Status{Stack: inv.Stack, WebURL: inv.WebURL, Web: checkWeb(ctx, inv)}
	for _, h := range inv.Hosts {
		hs := HostStatus{Name: h.Name, Role: h.Role, Zone: h.Zone, Address: h.Address, Port: h.Port, MeshNode: h.Name, Processes: []ProcessStatus{},
			Namespace: HostNamespace(inv.Target, h.Dir)}
		hs.fill(reports[h.Name])
		st.Hosts = append(st.Hosts, hs)
	}
	replicationOf(st.Hosts, reports)
	return st, nil
}

// fill sets what the host's agent reported, or why it could not.
func (hs *HostStatus) fill(r hostReport) {
	hs.Mesh = r.mesh
	if r.err != nil {
		hs.Health = r.err.Error()
		return
	}
	hs.Processes, hs.Roles, hs.Release = r.status.Processes, r.status.Roles, r.status.Current
	var problems []string
	for _, role := range r.status.Roles {
		if !role.Healthy {
			problems = append(problems, fmt.Sprintf("crm %s: %s", role.Role, role.Reason))
		}
	}
	pg := r.status.Postgres
	switch db := isDatabase(hs.Role); {
	case pg != nil && !pg.Ready:
		problems = append(problems, "postgres: "+pg.Reason)
	case db && pg == nil:
		problems = append(problems, "no PostgreSQL server on the host")
	case !db && hs.Role != string(topology.RoleLoadgen) && len(r.status.Roles) == 0:
		// A load generator runs k6 only as verify's units: its agent
		// answering is all its health.
		problems = append(problems, "no crm role runs on the host")
	}
	hs.Healthy, hs.Health = len(problems) == 0, strings.Join(problems, "; ")
	if hs.Healthy {
		hs.Health = "ok"
	}
}

func isDatabase(role string) bool {
	return topology.Role(role).IsPostgres()
}

// replicationOf gives each replica host its row of pg_stat_replication as
// the primary's agent reported it.
func replicationOf(hosts []HostStatus, reports map[string]hostReport) {
	primary := ""
	for _, h := range hosts {
		if h.Role == string(topology.RoleDBPrimary) {
			primary = h.Name
		}
	}
	if primary == "" {
		return
	}
	p := reports[primary]
	for i := range hosts {
		h := &hosts[i]
		if h.Role != string(topology.RoleDBReplica) {
			continue
		}
		var why string
		switch {
		case p.err != nil:
			why = fmt.Sprintf("primary %s did not report: %v", primary, p.err)
		case p.status.Postgres == nil || !p.status.Postgres.Ready:
			why = fmt.Sprintf("primary %s is down", primary)
		default:
			why = fmt.Sprintf("%s is not streaming from the primary", h.Name)
			for _, s := range p.status.Postgres.Standbys {
				if s.Name == h.Name {
					h.Replication, why = &Replication{State: s.State, SyncState: s.SyncState, LagBytes: s.LagBytes, LagSecs: s.LagSecs}, ""
				}
			}
		}
		if why != "" && h.Healthy {
			h.Healthy, h.Health = false, "replication: "+why
		}
	}
}
