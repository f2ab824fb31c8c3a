package provision

import (
	"context"
	"fmt"
	"maps"
	"net"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// PostgresReplica is a streaming replica of a PostgresPrimary on another
// host: the host's agent takes a base backup from the primary's address
// (pg_basebackup) and runs postgres under the host's supervisor.
// Asynchronous by default; with Sync the primary's agent makes it wait for
// the replica on every commit (synchronous_commit = remote_apply).
type PostgresReplica struct{}

// PostgresReplicaArgs are the inputs of a PostgresReplica.
type PostgresReplicaArgs struct {
	Host    string `pulumi:"host"`
	HostDir string `pulumi:"hostDir"`
	Address string `pulumi:"address"`
	Port    int    `pulumi:"port"`
	// PrimaryHost and PrimaryAddr (host:port) name the primary it streams
	// from; PrimaryPassword is its superuser's, which the replica shares.
	PrimaryHost     string `pulumi:"primaryHost"`
	PrimaryAddr     string `pulumi:"primaryAddr"`
	PrimaryPassword string `pulumi:"primaryPassword" provider:"secret"`
	// Settings are the primary's: a replica with fewer connections than its
	// primary cannot serve reads.
	Settings map[string]string `pulumi:"settings"`
	// PrimarySystemID ties the replica to one initdb of the primary: a new
	// primary needs a new base backup.
	PrimarySystemID string `pulumi:"primarySystemId"`
	Sync            bool   `pulumi:"sync"`
	// Promoted is set by crmplan failover: this replica is the primary now.
	Promoted bool `pulumi:"promoted,optional"`
	// AllowCIDRs may connect to the server (pg_hba.conf), as the primary's.
	AllowCIDRs []string `pulumi:"allowCidrs,optional"`
	// StateDir and Stack locate the mesh the work goes through.
	StateDir string `pulumi:"stateDir"`
	Stack    string `pulumi:"stack"`
}

// PostgresReplicaState is a replica as recorded in state.
type PostgresReplicaState struct {
	PostgresReplicaArgs
	SupervisorPID int  `pulumi:"supervisorPid"`
	Running       bool `pulumi:"running"`
}

func (*PostgresReplica) Annotate(a infer.Annotator) { a.SetToken("index", "PostgresReplica") }

func (in PostgresReplicaArgs) listen() string {
	return net.JoinHostPort(in.Address, fmt.Sprint(in.Port))
}

// Create takes a base backup of the primary and starts the replica, then
// has the primary wait for it when the plan says sync: only once it
// streams, since a primary waiting for a standby that is not there blocks
// every commit.
func (*PostgresReplica) Create(ctx context.Context, req infer.CreateRequest[PostgresReplicaArgs]) (infer.CreateResponse[PostgresReplicaState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[PostgresReplicaState]{ID: in.Host + "/postgres", Output: PostgresReplicaState{PostgresReplicaArgs: in}}
	if req.DryRun {
		return resp, nil
	}
	m, err := openMesh(ctx, in.StateDir, in.Stack)
	if err != nil {
		return resp, providerError(err)
	}
	st, err := postgresVia(ctx, m, in.Host, wire.PostgresOp{Action: wire.PostgresReplica, Name: in.Host, Listen: in.listen(),
		Primary: in.PrimaryAddr, Password: in.PrimaryPassword, Settings: in.Settings, AllowCIDRs: in.AllowCIDRs})
	resp.Output.SupervisorPID, resp.Output.Running = st.SupervisorPID, st.Running
	if err != nil {
		return resp, err
	}
	_, err = postgresVia(ctx, m, in.PrimaryHost, wire.PostgresOp{Action: wire.PostgresSync, Standby: in.Host, Sync: in.Sync})
	return resp, err
}

// Read asks the host's agent, as PostgresPrimary's Read does.
func (*PostgresReplica) Read(ctx context.Context, req infer.ReadRequest[PostgresReplicaArgs, PostgresReplicaState]) (infer.ReadResponse[PostgresReplicaArgs, PostgresReplicaState], error) {
	st := req.State
	status, err := readPostgres(ctx, st.StateDir, st.Stack, st.Host)
	if err == nil && !status.Exists {
		return infer.ReadResponse[PostgresReplicaArgs, PostgresReplicaState]{}, nil
	}
	st.SupervisorPID, st.Running = status.SupervisorPID, err == nil && status.Running
	return infer.ReadResponse[PostgresReplicaArgs, PostgresReplicaState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Diff replaces the replica when its place or its primary changes; the
// sync flag changes in place.
func (*PostgresReplica) Diff(ctx context.Context, req infer.DiffRequest[PostgresReplicaArgs, PostgresReplicaState]) (infer.DiffResponse, error) {
	old, in := req.State.PostgresReplicaArgs, req.Inputs
	old.StateDir, old.Stack = in.StateDir, in.Stack
	d := diffInputs(old, in, "host", "hostDir", "address", "port", "primaryHost", "primaryAddr", "primarySystemId")
	markNotRunning(&d, req.State.Running)
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update restarts a dead replica (with new settings), finishes a promotion crmplan failover
// began, or switches sync on or off.
func (*PostgresReplica) Update(ctx context.Context, req infer.UpdateRequest[PostgresReplicaArgs, PostgresReplicaState]) (infer.UpdateResponse[PostgresReplicaState], error) {
	in, out := req.Inputs, req.State
	out.PostgresReplicaArgs = in
	resp := func(err error) (infer.UpdateResponse[PostgresReplicaState], error) {
		return infer.UpdateResponse[PostgresReplicaState]{Output: out}, err
	}
	restartNotice(ctx, req.State.Running, req.State.Settings, in.Settings)
	if req.DryRun {
		return resp(nil)
	}
	m, err := openMesh(ctx, in.StateDir, in.Stack)
	if err != nil {
		return resp(providerError(err))
	}
	if !req.State.Running || !maps.Equal(req.State.Settings, in.Settings) {
		// New settings take effect at a restart; a replica with fewer
		// connections than its primary stops serving reads.
		st, err := postgresVia(ctx, m, in.Host, wire.PostgresOp{Action: wire.PostgresConfigure, Settings: in.Settings})
		out.SupervisorPID, out.Running = st.SupervisorPID, st.Running
		if err != nil {
			return resp(err)
		}
	}
	if in.Promoted {
		_, err := postgresVia(ctx, m, in.Host, wire.PostgresOp{Action: wire.PostgresPromote})
		return resp(err)
	}
	_, err = postgresVia(ctx, m, in.PrimaryHost, wire.PostgresOp{Action: wire.PostgresSync, Standby: in.Host, Sync: in.Sync})
	return resp(err)
}

// Delete first releases the primary from waiting for this replica, then
// has the host's agent stop the replica and remove its directory.
func (*PostgresReplica) Delete(ctx context.Context, req infer.DeleteRequest[PostgresReplicaState]) (infer.DeleteResponse, error) {
	st := req.State
	if st.Sync && !st.Promoted {
		if _, err := postgres(ctx, st.StateDir, st.Stack, st.PrimaryHost, wire.PostgresOp{Action: wire.PostgresSync, Standby: st.Host}); err != nil {
			return infer.DeleteResponse{}, err
		}
	}
	return infer.DeleteResponse{}, removePostgres(ctx, st.StateDir, st.Stack, st.Host)
}
