package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// PostgresPrimary is a PostgreSQL primary on a host: the host's agent,
// reached through the stack's mesh, initialises it (initdb into
// HOSTDIR/pg with the sizing's settings), runs postgres under the host's
// supervisor and creates the CRM's database and role. The provider never
// touches the host's files itself.
type PostgresPrimary struct{}

// PostgresPrimaryArgs are the inputs of a PostgresPrimary.
type PostgresPrimaryArgs struct {
	Host     string            `pulumi:"host"`
	HostDir  string            `pulumi:"hostDir"`
	Address  string            `pulumi:"address"`
	Port     int               `pulumi:"port"`
	Password string            `pulumi:"password" provider:"secret"` // the postgres superuser's
	Settings map[string]string `pulumi:"settings"`
	Database string            `pulumi:"database"`
	AppUser  string            `pulumi:"appUser"`
	AppPass  string            `pulumi:"appPassword" provider:"secret"`
	// Retired is set by crmplan failover: this primary was fenced and a
	// replica promoted; it stays stopped until it is rebuilt as a replica.
	Retired bool `pulumi:"retired,optional"`
	// RebuildFrom, on a retired primary, is the promoted replica's
	// host:port, and RebuildFromHost its host: the host is rebuilt as its
	// streaming replica.
	RebuildFrom     string `pulumi:"rebuildFrom,optional"`
	RebuildFromHost string `pulumi:"rebuildFromHost,optional"`
	// Sync, on a rebuilt primary, makes the promoted one wait for it on
	// every commit, as the plan's replication: sync asks.
	Sync bool `pulumi:"sync,optional"`
	// AllowCIDRs may connect to the server (pg_hba.conf); none: loopback
	// only. An isolated stack's hosts connect from their zones' ranges.
	AllowCIDRs []string `pulumi:"allowCidrs,optional"`
	// StateDir and Stack locate the mesh the work goes through.
	StateDir string `pulumi:"stateDir"`
	Stack    string `pulumi:"stack"`
}

// PostgresPrimaryState is a primary as recorded in state.
type PostgresPrimaryState struct {
	PostgresPrimaryArgs
	// SystemID is the cluster's system identifier: a new initdb gives a new
	// one, which replicas and the schema depend on.
	SystemID      string `pulumi:"systemId"`
	SupervisorPID int    `pulumi:"supervisorPid"`
	Running       bool   `pulumi:"running"`
}

func (*PostgresPrimary) Annotate(a infer.Annotator) { a.SetToken("index", "PostgresPrimary") }

// WireDependencies keeps the system id known in a preview of an update
// (which keeps the cluster): otherwise every settings change would preview
// as a replacement of the replicas and the schema.
func (*PostgresPrimary) WireDependencies(f infer.FieldSelector, args *PostgresPrimaryArgs, state *PostgresPrimaryState) {
	f.OutputField(&state.SystemID).AlwaysKnown()
}

// PostgresDir is the pgserver directory of a database host: pgserver.Open
// it to reach the server (the loopback target's hosts share this
// machine's file system).
func PostgresDir(hostDir string) string { return agent.PostgresDir(hostDir) }

func (in PostgresPrimaryArgs) listen() string {
	return net.JoinHostPort(in.Address, fmt.Sprint(in.Port))
}

// postgres runs op on host's server through the mesh and returns the
// server's status as the agent reports it.
func postgres(ctx context.Context, stateDir, stack, host string, op wire.PostgresOp) (wire.PostgresStatus, error) {
	var st wire.PostgresStatus
	m, err := openMesh(ctx, stateDir, stack)
	if err != nil {
		return st, providerError(err)
	}
	return postgresVia(ctx, m, host, op)
}

// readPostgres asks host's agent for its server's status and starts
// nothing but the mesh's controller: a refresh's Read must not start a
// host's node (which would make its directory again before the target
// makes the host again, and leave that node behind). A host the
// controller has no route to is an error: not running.
func readPostgres(ctx context.Context, stateDir, stack, host string) (wire.PostgresStatus, error) {
	m, err := mesh.Open(stateDir, stack, targets())
	if err != nil {
		return wire.PostgresStatus{}, providerError(err)
	}
	routed, err := m.Reach(ctx, routeWait)
	if err != nil {
		return wire.PostgresStatus{}, providerError(err)
	}
	if !routed[host] {
		return wire.PostgresStatus{}, fmt.Errorf("host %s: the mesh has no route to its node", host)
	}
	return postgresVia(ctx, m, host, wire.PostgresOp{Action: wire.PostgresStatusOnly})
}

func postgresVia(ctx context.Context, m *mesh.Mesh, host string, op wire.PostgresOp) (wire.PostgresStatus, error) {
	var st wire.PostgresStatus
	payload, err := json.Marshal(op)
	if err != nil {
		return st, err
	}
	out, err := m.Run(ctx, host, mesh.Work{Type: wire.WorkPostgres, Payload: bytes.NewReader(payload)})
	if err != nil {
		return st, providerError(err)
	}
	lines := strings.Split(strings.TrimSpace(out.Text), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil {
		return st, fmt.Errorf("host %s: postgres %s: status %q: %w", host, op.Action, lines[len(lines)-1], err)
	}
	return st, nil
}

// Create initialises and starts the primary through the host's agent,
// which first removes what an interrupted earlier create left behind.
func (*PostgresPrimary) Create(ctx context.Context, req infer.CreateRequest[PostgresPrimaryArgs]) (infer.CreateResponse[PostgresPrimaryState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[PostgresPrimaryState]{ID: in.Host + "/postgres", Output: PostgresPrimaryState{PostgresPrimaryArgs: in}}
	if req.DryRun {
		return resp, nil
	}
	st, err := postgres(ctx, in.StateDir, in.Stack, in.Host, wire.PostgresOp{
		Action: wire.PostgresInit, Name: in.Host, Listen: in.listen(), Password: in.Password, Settings: in.Settings,
		Database: in.Database, AppUser: in.AppUser, AppPassword: in.AppPass, AllowCIDRs: in.AllowCIDRs,
	})
	resp.Output.record(st)
	return resp, err
}

func (s *PostgresPrimaryState) record(st wire.PostgresStatus) {
	s.SupervisorPID, s.Running = st.SupervisorPID, st.Running
	if st.SystemID != "" {
		s.SystemID = st.SystemID
	}
}

// Read asks the host's agent: a server that is gone makes the resource
// gone, a dead supervisor not running. A host the mesh cannot reach is
// not running, so that the next apply repairs it.
func (*PostgresPrimary) Read(ctx context.Context, req infer.ReadRequest[PostgresPrimaryArgs, PostgresPrimaryState]) (infer.ReadResponse[PostgresPrimaryArgs, PostgresPrimaryState], error) {
	st := req.State
	status, err := readPostgres(ctx, st.StateDir, st.Stack, st.Host)
	if err == nil && !status.Exists {
		return infer.ReadResponse[PostgresPrimaryArgs, PostgresPrimaryState]{}, nil
	}
	st.SupervisorPID, st.Running = status.SupervisorPID, err == nil && status.Running
	return infer.ReadResponse[PostgresPrimaryArgs, PostgresPrimaryState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Diff replaces the primary when where it lives changes; settings change
// in place.
func (*PostgresPrimary) Diff(ctx context.Context, req infer.DiffRequest[PostgresPrimaryArgs, PostgresPrimaryState]) (infer.DiffResponse, error) {
	old, in := req.State.PostgresPrimaryArgs, req.Inputs
	old.StateDir, old.Stack = in.StateDir, in.Stack // where the mesh is, not what the server is
	d := diffInputs(old, in, "host", "hostDir", "address", "port", "password", "database", "appUser", "appPassword")
	if in.Retired && in.RebuildFrom == "" {
		// A retired primary must stay down: restarting it would split the brain.
		return d, nil
	}
	markNotRunning(&d, req.State.Running)
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update writes new settings and restarts postgres (shared_buffers and
// max_connections take effect only at start), or restarts a dead one; a
// retired primary is stopped, or rebuilt as the promoted one's replica.
func (*PostgresPrimary) Update(ctx context.Context, req infer.UpdateRequest[PostgresPrimaryArgs, PostgresPrimaryState]) (infer.UpdateResponse[PostgresPrimaryState], error) {
	in, out := req.Inputs, req.State
	out.PostgresPrimaryArgs = in
	resp := func(err error) (infer.UpdateResponse[PostgresPrimaryState], error) {
		return infer.UpdateResponse[PostgresPrimaryState]{Output: out}, err
	}
	if !in.Retired {
		restartNotice(ctx, req.State.Running, req.State.Settings, in.Settings)
	}
	if req.DryRun {
		return resp(nil)
	}
	m, err := openMesh(ctx, in.StateDir, in.Stack)
	if err != nil {
		return resp(providerError(err))
	}
	op := wire.PostgresOp{Action: wire.PostgresConfigure, Name: in.Host, Listen: in.listen(), Settings: in.Settings}
	if in.Retired {
		switch {
		case in.RebuildFrom == "":
			op = wire.PostgresOp{Action: wire.PostgresStop}
		case req.State.RebuildFrom == in.RebuildFrom:
			op.Settings = nil // rebuilt before, only down
		default:
			op = wire.PostgresOp{Action: wire.PostgresRebuild, Name: in.Host, Listen: in.listen(), Primary: in.RebuildFrom,
				Password: in.Password, Settings: in.Settings, AllowCIDRs: in.AllowCIDRs}
		}
	}
	st, err := postgresVia(ctx, m, in.Host, op)
	out.record(st)
	if err != nil || !in.Retired || in.RebuildFrom == "" {
		return resp(err)
	}
	if in.Sync != req.State.Sync || req.State.RebuildFrom != in.RebuildFrom {
		// The promoted primary waits for its rebuilt replica as the plan's
		// replication says.
		_, err = postgresVia(ctx, m, in.RebuildFromHost, wire.PostgresOp{Action: wire.PostgresSync, Standby: in.Host, Sync: in.Sync})
	}
	return resp(err)
}

// restartNotice says in apply's (and preview's) output, before it happens,
// that a running server restarts for the new settings: every request in
// flight fails meanwhile. The rule is the agent's (agent.RestartReasons),
// applied to the settings the server last took from apply; a server that
// kept a higher max_connections from before takes it by a reload instead.
// Within the servers the sizing's pool totals cover (crmplan size), a tier
// that scales changes none of these settings.
func restartNotice(ctx context.Context, running bool, old, in map[string]string) {
	if why := agent.RestartReasons(old, in); running && len(why) > 0 {
		p.GetLogger(ctx).Infof("PostgreSQL restarts for %s: requests in flight fail meanwhile", strings.Join(why, ", "))
	}
}

// Delete stops the server and removes its directory, through the host's
// agent; with the mesh gone (the host is being destroyed too) the target
// removes the host whole.
func (*PostgresPrimary) Delete(ctx context.Context, req infer.DeleteRequest[PostgresPrimaryState]) (infer.DeleteResponse, error) {
	st := req.State
	return infer.DeleteResponse{}, removePostgres(ctx, st.StateDir, st.Stack, st.Host)
}

// removePostgres removes host's server through its agent. Without a mesh
// (an interrupted destroy removed it already) there is nobody to ask: the
// host's target removes the host whole.
func removePostgres(ctx context.Context, stateDir, stack, host string) error {
	m, err := mesh.Open(stateDir, stack, targets())
	if err != nil || !m.Has(host) {
		return nil
	}
	if err := m.Start(ctx); err != nil {
		return providerError(err)
	}
	_, err = postgresVia(ctx, m, host, wire.PostgresOp{Action: wire.PostgresRemove})
	return err
}
