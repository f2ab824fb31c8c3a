package provision

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan/pgserver"
)

// PostgresReplica is a streaming replica of a PostgresPrimary on another
// local host: pg_basebackup from the running primary, then postgres under a
// supervisor. Asynchronous by default; with Sync the primary waits for it
// on every commit (synchronous_commit = remote_apply).
type PostgresReplica struct{}

// PostgresReplicaArgs are the inputs of a PostgresReplica.
type PostgresReplicaArgs struct {
	Host           string `pulumi:"host"`
	HostDir        string `pulumi:"hostDir"`
	Address        string `pulumi:"address"`
	Port           int    `pulumi:"port"`
	PrimaryHostDir string `pulumi:"primaryHostDir"`
	// PrimarySystemID ties the replica to one initdb of the primary: a new
	// primary needs a new base backup.
	PrimarySystemID string `pulumi:"primarySystemId"`
	Sync            bool   `pulumi:"sync"`
	// Promoted is set by crmplan failover: this replica is the primary now.
	Promoted bool `pulumi:"promoted,optional"`
}

// PostgresReplicaState is a replica as recorded in state.
type PostgresReplicaState struct {
	PostgresReplicaArgs
	SupervisorPID int  `pulumi:"supervisorPid"`
	Running       bool `pulumi:"running"`
}

func (*PostgresReplica) Annotate(a infer.Annotator) { a.SetToken("index", "PostgresReplica") }

// Create takes a base backup of the primary and starts the replica.
func (*PostgresReplica) Create(ctx context.Context, req infer.CreateRequest[PostgresReplicaArgs]) (infer.CreateResponse[PostgresReplicaState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[PostgresReplicaState]{ID: in.Host + "/postgres", Output: PostgresReplicaState{PostgresReplicaArgs: in}}
	if req.DryRun {
		return resp, nil
	}
	primary, pid, err := startReplica(ctx, in.Host, in.HostDir, in.Address, in.Port, in.PrimaryHostDir)
	resp.Output.SupervisorPID = pid
	if err != nil {
		return resp, err
	}
	resp.Output.Running = true
	return resp, setSync(primary, in.Host, in.Sync)
}

// setSync makes the primary wait (or stop waiting) for the replica named
// name. Only once the replica streams: a primary waiting for a standby that
// is not there blocks every commit.
func setSync(primary *pgserver.Server, name string, sync bool) error {
	settings := map[string]string{"synchronous_standby_names": "", "synchronous_commit": "on"}
	if sync {
		settings["synchronous_standby_names"] = fmt.Sprintf("ANY 1 (%q)", name)
		settings["synchronous_commit"] = "remote_apply"
	}
	if err := primary.Configure(settings); err != nil {
		return fmt.Errorf("host %s: configure primary for sync=%v: %w", name, sync, err)
	}
	return nil
}

// Read reports a deleted data directory as gone and a dead supervisor as
// not running.
func (*PostgresReplica) Read(ctx context.Context, req infer.ReadRequest[PostgresReplicaArgs, PostgresReplicaState]) (infer.ReadResponse[PostgresReplicaArgs, PostgresReplicaState], error) {
	st := req.State
	var exists bool
	if st.SupervisorPID, st.Running, exists = serverLive(st.HostDir); !exists {
		return infer.ReadResponse[PostgresReplicaArgs, PostgresReplicaState]{}, nil
	}
	return infer.ReadResponse[PostgresReplicaArgs, PostgresReplicaState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Diff replaces the replica when its place or its primary changes; the
// sync flag changes in place.
func (*PostgresReplica) Diff(ctx context.Context, req infer.DiffRequest[PostgresReplicaArgs, PostgresReplicaState]) (infer.DiffResponse, error) {
	d := diffInputs(req.State.PostgresReplicaArgs, req.Inputs, "host", "hostDir", "address", "port", "primaryHostDir", "primarySystemId")
	markNotRunning(&d, req.State.Running)
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update switches sync on or off, or restarts a dead replica.
func (*PostgresReplica) Update(ctx context.Context, req infer.UpdateRequest[PostgresReplicaArgs, PostgresReplicaState]) (infer.UpdateResponse[PostgresReplicaState], error) {
	in, out := req.Inputs, req.State
	out.PostgresReplicaArgs = in
	if req.DryRun {
		return infer.UpdateResponse[PostgresReplicaState]{Output: out}, nil
	}
	if !req.State.Running {
		pid, err := restartServer(ctx, in.Host, in.HostDir, nil)
		out.SupervisorPID, out.Running = pid, err == nil
		if err != nil {
			return infer.UpdateResponse[PostgresReplicaState]{Output: out}, err
		}
	}
	if in.Promoted {
		return infer.UpdateResponse[PostgresReplicaState]{Output: out}, promote(ctx, in.Host, in.HostDir)
	}
	primary, err := pgserver.Open(PostgresDir(in.PrimaryHostDir))
	if err != nil {
		return infer.UpdateResponse[PostgresReplicaState]{Output: out}, fmt.Errorf("host %s: primary: %w", in.Host, err)
	}
	return infer.UpdateResponse[PostgresReplicaState]{Output: out}, setSync(primary, in.Host, in.Sync)
}

// Delete first releases the primary from waiting for this replica, then
// stops the replica and removes its directory.
func (*PostgresReplica) Delete(ctx context.Context, req infer.DeleteRequest[PostgresReplicaState]) (infer.DeleteResponse, error) {
	st := req.State
	if st.Sync && !st.Promoted {
		if primary, err := pgserver.Open(PostgresDir(st.PrimaryHostDir)); err == nil {
			if err := setSync(primary, st.Host, false); err != nil {
				return infer.DeleteResponse{}, err
			}
		}
	}
	if err := resetServer(st.HostDir); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("host %s: %w", st.Host, err)
	}
	return infer.DeleteResponse{}, nil
}

// promote finishes a failover crmplan failover began (or an apply after
// a failover record was written by hand): a replica still in recovery is
// promoted; a promoted one is left alone.
func promote(ctx context.Context, host, hostDir string) error {
	srv, err := pgserver.Open(PostgresDir(hostDir))
	if err != nil {
		return fmt.Errorf("host %s: %w", host, err)
	}
	if !srv.IsReplica() {
		return nil
	}
	if err := srv.Promote(ctx); err != nil {
		return fmt.Errorf("host %s: %w", host, err)
	}
	return nil
}

// startReplica replaces whatever is in hostDir with a base backup of the
// primary in primaryHostDir and runs it under a supervisor.
func startReplica(ctx context.Context, host, hostDir, address string, port int, primaryHostDir string) (*pgserver.Server, int, error) {
	if err := resetServer(hostDir); err != nil {
		return nil, 0, err
	}
	if err := checkPortFree(host, address, port); err != nil {
		return nil, 0, providerError(err)
	}
	primary, err := pgserver.Open(PostgresDir(primaryHostDir))
	if err != nil {
		return nil, 0, fmt.Errorf("host %s: primary: %w", host, err)
	}
	// BaseBackup starts the replica itself; it is stopped again at once and
	// handed to the supervisor, which restarts it when it crashes.
	srv, err := pgserver.BaseBackup(ctx, primary, pgserver.Config{
		Dir: PostgresDir(hostDir), Addr: net.JoinHostPort(address, fmt.Sprint(port)), Name: host,
	}, pgserver.ReplicaOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("host %s: %w", host, err)
	}
	if err := srv.Stop(ctx); err != nil {
		return nil, 0, fmt.Errorf("host %s: %w", host, err)
	}
	// A fresh handle: the old one remembers its own postgres has exited.
	if srv, err = pgserver.Open(PostgresDir(hostDir)); err != nil {
		return nil, 0, fmt.Errorf("host %s: %w", host, err)
	}
	pid, err := startPostgres(ctx, host, hostDir, srv)
	return primary, pid, err
}

// rebuildReplica makes a retired primary the streaming replica of the
// promoted one: pg_rewind when it can (only what diverged is copied), a
// fresh base backup when it cannot (no common history, WAL recycled).
func rebuildReplica(ctx context.Context, in PostgresPrimaryArgs) (int, error) {
	if err := postgresProcess(in.HostDir).Stop(); err != nil {
		return 0, fmt.Errorf("host %s: %w", in.Host, err)
	}
	source, err := pgserver.Open(PostgresDir(in.RebuildFrom))
	if err != nil {
		return 0, fmt.Errorf("host %s: promoted primary: %w", in.Host, err)
	}
	srv, err := pgserver.Open(PostgresDir(in.HostDir))
	if err == nil {
		if err = srv.Rewind(ctx, source); err == nil {
			return startPostgres(ctx, in.Host, in.HostDir, srv)
		}
	}
	// What pg_rewind said stays in the log: it is why the slow path ran.
	fmt.Fprintf(os.Stderr, "host %s: pg_rewind failed, taking a fresh base backup: %v\n", in.Host, err)
	_, pid, err := startReplica(ctx, in.Host, in.HostDir, in.Address, in.Port, in.RebuildFrom)
	return pid, err
}
