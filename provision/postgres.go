package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/supervise"
)

// PostgresPrimary is a PostgreSQL primary on a local host: initdb into
// HOSTDIR/pg, the sizing's settings in its configuration, postgres run under
// a supervisor, and the CRM's database and role created.
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
	// RebuildFrom, on a retired primary, is the promoted replica's host
	// directory: the host is rebuilt as its streaming replica.
	RebuildFrom string `pulumi:"rebuildFrom,optional"`
	// Sync, on a rebuilt primary, makes the promoted one wait for it on
	// every commit, as the plan's replication: sync asks.
	Sync bool `pulumi:"sync,optional"`
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
// it to reach the server.
func PostgresDir(hostDir string) string { return filepath.Join(hostDir, "pg") }

// postgresProcess is how the supervisor runs a server initialised by pgserver.
func postgresProcess(hostDir string) supervise.Process {
	proc := supervise.Process{
		Name:       "postgres",
		Dir:        hostDir,
		Argv:       []string{filepath.Join(pgserver.DefaultBin, "postgres"), "-D", filepath.Join(PostgresDir(hostDir), "data")},
		Env:        []string{"LC_ALL=C.UTF-8"},
		StopSignal: "SIGINT", // fast shutdown: open transactions roll back
	}
	if os.Geteuid() == 0 {
		proc.User = "postgres" // postgres refuses to run as root
	}
	return proc
}

// Create initialises and starts the primary. Leftovers of an interrupted
// earlier create (no resource in state owns them) are removed first.
func (*PostgresPrimary) Create(ctx context.Context, req infer.CreateRequest[PostgresPrimaryArgs]) (infer.CreateResponse[PostgresPrimaryState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[PostgresPrimaryState]{ID: in.Host + "/postgres", Output: PostgresPrimaryState{PostgresPrimaryArgs: in}}
	if req.DryRun {
		return resp, nil
	}
	if err := resetServer(in.HostDir); err != nil {
		return resp, err
	}
	if err := checkPortFree(in.Host, in.Address, in.Port); err != nil {
		return resp, providerError(err)
	}
	srv, err := pgserver.Init(ctx, pgserver.Config{
		Dir: PostgresDir(in.HostDir), Addr: net.JoinHostPort(in.Address, fmt.Sprint(in.Port)),
		Password: in.Password, Name: in.Host, Settings: in.Settings,
	})
	if err != nil {
		return resp, fmt.Errorf("host %s: %w", in.Host, err)
	}
	if resp.Output.SupervisorPID, err = startPostgres(ctx, in.Host, in.HostDir, srv); err != nil {
		return resp, err
	}
	resp.Output.Running = true
	if err := createAppDatabase(ctx, srv, in); err != nil {
		return resp, fmt.Errorf("host %s: %w", in.Host, err)
	}
	resp.Output.SystemID, err = systemID(ctx, srv)
	return resp, err
}

// resetServer stops and removes a server directory left behind.
func resetServer(hostDir string) error {
	if err := postgresProcess(hostDir).Stop(); err != nil {
		return err
	}
	return os.RemoveAll(PostgresDir(hostDir))
}

// startPostgres runs postgres under the supervisor and waits until it
// accepts queries.
func startPostgres(ctx context.Context, host, hostDir string, srv *pgserver.Server) (int, error) {
	self, err := selfPath()
	if err != nil {
		return 0, err
	}
	proc := postgresProcess(hostDir)
	pid, err := proc.Start(self)
	if err != nil {
		return 0, fmt.Errorf("host %s: %w", host, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := srv.WaitReady(wctx); err != nil {
		return pid, fmt.Errorf("host %s: postgres did not become ready: %w\n%s", host, err, logTail(proc.LogPath(), 2048))
	}
	return pid, nil
}

func createAppDatabase(ctx context.Context, srv *pgserver.Server, in PostgresPrimaryArgs) error {
	role := pgx.Identifier{in.AppUser}.Sanitize()
	// Utility statements take no parameters: the password is a quoted literal.
	pw := "'" + strings.ReplaceAll(in.AppPass, "'", "''") + "'"
	if err := srv.Exec(ctx, "postgres", "CREATE ROLE "+role+" LOGIN PASSWORD "+pw); err != nil {
		return err
	}
	return srv.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{in.Database}.Sanitize()+" OWNER "+role)
}

func systemID(ctx context.Context, srv *pgserver.Server) (string, error) {
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var id string
	err = conn.QueryRow(ctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&id)
	return id, err
}

// Read reports a deleted server directory as gone and a dead supervisor as
// not running.
func (*PostgresPrimary) Read(ctx context.Context, req infer.ReadRequest[PostgresPrimaryArgs, PostgresPrimaryState]) (infer.ReadResponse[PostgresPrimaryArgs, PostgresPrimaryState], error) {
	st := req.State
	var exists bool
	if st.SupervisorPID, st.Running, exists = serverLive(st.HostDir); !exists {
		return infer.ReadResponse[PostgresPrimaryArgs, PostgresPrimaryState]{}, nil
	}
	return infer.ReadResponse[PostgresPrimaryArgs, PostgresPrimaryState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Diff replaces the primary when where it lives changes; settings change
// in place.
func (*PostgresPrimary) Diff(ctx context.Context, req infer.DiffRequest[PostgresPrimaryArgs, PostgresPrimaryState]) (infer.DiffResponse, error) {
	d := diffInputs(req.State.PostgresPrimaryArgs, req.Inputs, "host", "hostDir", "address", "port", "password", "database", "appUser", "appPassword")
	if req.Inputs.Retired && req.Inputs.RebuildFrom == "" {
		// A retired primary must stay down: restarting it would split the brain.
		return d, nil
	}
	markNotRunning(&d, req.State.Running)
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update writes new settings and restarts postgres (shared_buffers and
// max_connections take effect only at start), or restarts a dead one.
func (*PostgresPrimary) Update(ctx context.Context, req infer.UpdateRequest[PostgresPrimaryArgs, PostgresPrimaryState]) (infer.UpdateResponse[PostgresPrimaryState], error) {
	out := req.State
	out.PostgresPrimaryArgs = req.Inputs
	if req.DryRun {
		return infer.UpdateResponse[PostgresPrimaryState]{Output: out}, nil
	}
	if in := req.Inputs; in.Retired {
		if in.RebuildFrom == "" {
			out.SupervisorPID, out.Running = 0, false
			return infer.UpdateResponse[PostgresPrimaryState]{Output: out}, postgresProcess(in.HostDir).Stop()
		}
		var err error
		if req.State.RebuildFrom == in.RebuildFrom {
			out.SupervisorPID, err = restartServer(ctx, in.Host, in.HostDir, nil) // rebuilt before, only down
		} else {
			out.SupervisorPID, err = rebuildReplica(ctx, in)
		}
		out.Running = err == nil
		if err == nil && in.Sync != req.State.Sync || err == nil && req.State.RebuildFrom != in.RebuildFrom {
			var primary *pgserver.Server
			if primary, err = pgserver.Open(PostgresDir(in.RebuildFrom)); err == nil {
				err = setSync(primary, in.Host, in.Sync)
			}
		}
		return infer.UpdateResponse[PostgresPrimaryState]{Output: out}, err
	}
	pid, err := restartServer(ctx, req.Inputs.Host, req.Inputs.HostDir, req.Inputs.Settings)
	out.SupervisorPID, out.Running = pid, err == nil
	return infer.UpdateResponse[PostgresPrimaryState]{Output: out}, err
}

// restartServer applies settings to a server directory and (re)starts it.
func restartServer(ctx context.Context, host, hostDir string, settings map[string]string) (int, error) {
	srv, err := pgserver.Open(PostgresDir(hostDir))
	if err != nil {
		return 0, fmt.Errorf("host %s: %w", host, err)
	}
	// A watchdog probing this server must not take the restart for a loss.
	if err := os.WriteFile(restartingMark(hostDir), nil, 0o600); err != nil {
		return 0, fmt.Errorf("host %s: %w", host, err)
	}
	defer os.Remove(restartingMark(hostDir))
	if err := postgresProcess(hostDir).Stop(); err != nil {
		return 0, fmt.Errorf("host %s: %w", host, err)
	}
	if settings != nil {
		if err := srv.Configure(settings); err != nil {
			return 0, fmt.Errorf("host %s: %w", host, err)
		}
	}
	return startPostgres(ctx, host, hostDir, srv)
}

// Delete stops the server and removes its directory.
func (*PostgresPrimary) Delete(ctx context.Context, req infer.DeleteRequest[PostgresPrimaryState]) (infer.DeleteResponse, error) {
	if err := resetServer(req.State.HostDir); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("host %s: %w", req.State.Host, err)
	}
	return infer.DeleteResponse{}, nil
}

// serverLive reports whether a host's server directory still exists and
// whether its supervisor runs.
func serverLive(hostDir string) (pid int, running, exists bool) {
	if _, err := os.Stat(filepath.Join(PostgresDir(hostDir), "data")); errors.Is(err, os.ErrNotExist) {
		return 0, false, false
	}
	pid, running = postgresProcess(hostDir).Running()
	return pid, running, true
}

// logTail returns the last n bytes of a log file for an error message,
// headed by its path so that the reader knows where to read on.
func logTail(path string, n int64) string {
	tail := supervise.LogTail(path, n)
	if tail == "" {
		return ""
	}
	return "log " + path + ":\n" + tail
}
