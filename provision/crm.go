package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan"
)

// CrmService is one role instance of the bundled CRM (crm web, api or
// worker) on a local host, run under a supervisor.
type CrmService struct{}

// CrmServiceArgs are the inputs of a CrmService.
type CrmServiceArgs struct {
	Host    string `pulumi:"host"`
	HostDir string `pulumi:"hostDir"`
	Role    string `pulumi:"role"`
	Address string `pulumi:"address"`
	Port    int    `pulumi:"port"`
	CrmBin  string `pulumi:"crmBin"`
	// CrmVersion is the crm binary's digest: a new build restarts the role.
	CrmVersion string   `pulumi:"crmVersion"`
	Args       []string `pulumi:"args"`
	// Env carries what must not show in a process listing (database URLs
	// with passwords).
	Env map[string]string `pulumi:"env" provider:"secret"`
}

// CrmServiceState is a role instance as recorded in state.
type CrmServiceState struct {
	CrmServiceArgs
	SupervisorPID int  `pulumi:"supervisorPid"`
	Running       bool `pulumi:"running"`
}

func (*CrmService) Annotate(a infer.Annotator) { a.SetToken("index", "CrmService") }

func (in CrmServiceArgs) process() Process {
	argv := append([]string{in.CrmBin, in.Role, "--listen", net.JoinHostPort(in.Address, fmt.Sprint(in.Port))}, in.Args...)
	keys := make([]string, 0, len(in.Env))
	for k := range in.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+in.Env[k])
	}
	return Process{Name: "crm-" + in.Role, Dir: in.HostDir, Argv: argv, Env: env}
}

// Create checks the port, starts the role and waits until /healthz answers.
func (*CrmService) Create(ctx context.Context, req infer.CreateRequest[CrmServiceArgs]) (infer.CreateResponse[CrmServiceState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[CrmServiceState]{ID: in.Host + "/" + in.Role, Output: CrmServiceState{CrmServiceArgs: in}}
	if req.DryRun {
		return resp, nil
	}
	if err := in.process().Stop(); err != nil {
		return resp, err
	}
	if err := checkPortFree(in.Host, in.Address, in.Port); err != nil {
		return resp, providerError(err)
	}
	pid, err := startService(ctx, in)
	resp.Output.SupervisorPID, resp.Output.Running = pid, err == nil
	return resp, err
}

func startService(ctx context.Context, in CrmServiceArgs) (int, error) {
	self, err := selfPath()
	if err != nil {
		return 0, err
	}
	proc := in.process()
	pid, err := proc.Start(self)
	if err != nil {
		return 0, fmt.Errorf("host %s: %w", in.Host, err)
	}
	url := fmt.Sprintf("http://%s/healthz", net.JoinHostPort(in.Address, fmt.Sprint(in.Port)))
	err = waitFor(ctx, 60*time.Second, func(ctx context.Context) error { return CheckHealth(ctx, url) })
	if err != nil {
		return pid, fmt.Errorf("host %s: crm %s did not become healthy at %s: %w\n%s", in.Host, in.Role, url, err, logTail(proc.LogPath(), 2048))
	}
	return pid, nil
}

// CheckHealth asks a crm health endpoint (/healthz, /readyz). A refusal
// carries the reason crm gives in its JSON answer ("no healthy api backend",
// "database down"), so the error says why and not only that.
func CheckHealth(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		return nil
	}
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&body)
	if body.Reason != "" {
		return fmt.Errorf("%s: %s", res.Status, body.Reason)
	}
	return fmt.Errorf("GET %s: %s", url, res.Status)
}

// Read reports a dead supervisor as not running; a deleted host directory
// makes the service gone.
func (*CrmService) Read(ctx context.Context, req infer.ReadRequest[CrmServiceArgs, CrmServiceState]) (infer.ReadResponse[CrmServiceArgs, CrmServiceState], error) {
	st := req.State
	if _, err := os.Stat(st.HostDir); err != nil {
		return infer.ReadResponse[CrmServiceArgs, CrmServiceState]{}, nil
	}
	st.SupervisorPID, st.Running = st.process().Running()
	return infer.ReadResponse[CrmServiceArgs, CrmServiceState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Diff replaces the service when its host, role or listening address
// changes (deleting first: the replacement needs the port); anything else
// restarts it in place.
func (*CrmService) Diff(ctx context.Context, req infer.DiffRequest[CrmServiceArgs, CrmServiceState]) (infer.DiffResponse, error) {
	d := diffInputs(req.State.CrmServiceArgs, req.Inputs, "host", "hostDir", "role", "address", "port")
	markNotRunning(&d, req.State.Running)
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update restarts the role with its new arguments or binary.
func (*CrmService) Update(ctx context.Context, req infer.UpdateRequest[CrmServiceArgs, CrmServiceState]) (infer.UpdateResponse[CrmServiceState], error) {
	out := CrmServiceState{CrmServiceArgs: req.Inputs}
	if req.DryRun {
		return infer.UpdateResponse[CrmServiceState]{Output: out}, nil
	}
	if err := req.State.process().Stop(); err != nil {
		return infer.UpdateResponse[CrmServiceState]{Output: out}, err
	}
	pid, err := startService(ctx, req.Inputs)
	out.SupervisorPID, out.Running = pid, err == nil
	return infer.UpdateResponse[CrmServiceState]{Output: out}, err
}

// Delete stops the role and removes its files from the host directory.
func (*CrmService) Delete(ctx context.Context, req infer.DeleteRequest[CrmServiceState]) (infer.DeleteResponse, error) {
	proc := req.State.process()
	if err := proc.Stop(); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("host %s: %w", req.State.Host, err)
	}
	for _, f := range []string{proc.SpecPath(), proc.StatePath(), proc.LogPath(), proc.path(".supervisor.log")} {
		_ = os.Remove(f)
	}
	return infer.DeleteResponse{}, nil
}

// CrmDatabase is the CRM's schema and seed data in the primary: `crm
// migrate`, then `crm seed`. Creating it again after the primary was
// re-initialised is what the primary's system id input is for.
type CrmDatabase struct{}

// CrmDatabaseArgs are the inputs of a CrmDatabase.
type CrmDatabaseArgs struct {
	CrmBin          string `pulumi:"crmBin"`
	CrmVersion      string `pulumi:"crmVersion"`
	DatabaseURL     string `pulumi:"databaseUrl" provider:"secret"`
	PrimarySystemID string `pulumi:"primarySystemId"`
	Records         int    `pulumi:"records"`
	Users           int    `pulumi:"users"`
	Password        string `pulumi:"password" provider:"secret"` // of the seeded users
	LogDir          string `pulumi:"logDir"`
}

// CrmDatabaseState is the schema as recorded in state.
type CrmDatabaseState struct {
	CrmDatabaseArgs
}

func (*CrmDatabase) Annotate(a infer.Annotator) { a.SetToken("index", "CrmDatabase") }

// Create migrates and seeds.
func (*CrmDatabase) Create(ctx context.Context, req infer.CreateRequest[CrmDatabaseArgs]) (infer.CreateResponse[CrmDatabaseState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[CrmDatabaseState]{ID: "crm", Output: CrmDatabaseState{in}}
	if req.DryRun {
		return resp, nil
	}
	if err := in.resetSchema(ctx); err != nil {
		return resp, err
	}
	if err := in.crm(ctx, "migrate"); err != nil {
		return resp, err
	}
	return resp, in.seed(ctx)
}

// resetSchema empties the CRM database. Create runs only when no schema
// is in the stack's state, so whatever is there was left by a create that
// was interrupted (crmplan killed mid-seed), and crm seed needs it empty.
func (in CrmDatabaseArgs) resetSchema(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, in.DatabaseURL)
	if err != nil {
		return fmt.Errorf("crm database: %w", err)
	}
	defer conn.Close(context.Background())
	// PostgreSQL 15 makes the database owner (our app role) own public.
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"); err != nil {
		return fmt.Errorf("crm database: reset schema: %w", err)
	}
	return nil
}

// crm runs a one-shot crm command against the database, logging to
// LogDir/crm-NAME.log; secrets travel in the environment.
func (in CrmDatabaseArgs) crm(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, in.CrmBin, append([]string{name}, args...)...)
	cmd.Env = append(os.Environ(), "CRM_DATABASE_URL="+in.DatabaseURL, "CRM_SEED_PASSWORD="+in.Password)
	logPath := filepath.Join(in.LogDir, "crm-"+name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("crm %s: %w\n%s", name, err, logTail(logPath, 2048))
	}
	return nil
}

func (in CrmDatabaseArgs) seed(ctx context.Context) error {
	return in.crm(ctx, "seed", "--records", fmt.Sprint(in.Records), "--users", fmt.Sprint(in.Users))
}

// Diff: a new primary means a new schema; a new binary migrates again; a
// new record count seeds again.
func (*CrmDatabase) Diff(ctx context.Context, req infer.DiffRequest[CrmDatabaseArgs, CrmDatabaseState]) (infer.DiffResponse, error) {
	replace := []string{"primarySystemId", "databaseUrl", "password"}
	if id := req.Inputs.PrimarySystemID; id != "" && id == req.State.PrimarySystemID {
		// The same cluster at another address (crmplan failover: a promoted
		// replica keeps the system id): the data stays, nothing is reseeded.
		replace = []string{"password"}
	}
	return diffInputs(req.State.CrmDatabaseArgs, req.Inputs, replace...), nil
}

// Update migrates when the binary changed. A changed record or user count
// is refused: seeding needs an empty database.
func (*CrmDatabase) Update(ctx context.Context, req infer.UpdateRequest[CrmDatabaseArgs, CrmDatabaseState]) (infer.UpdateResponse[CrmDatabaseState], error) {
	old, in := req.State.CrmDatabaseArgs, req.Inputs
	resp := infer.UpdateResponse[CrmDatabaseState]{Output: CrmDatabaseState{in}}
	if req.DryRun {
		return resp, nil
	}
	if old.CrmVersion != in.CrmVersion || old.CrmBin != in.CrmBin {
		if err := in.crm(ctx, "migrate"); err != nil {
			return resp, err
		}
	}
	if old.Records != in.Records || old.Users != in.Users {
		// crm seed fills only an empty database: refuse rather than drop data.
		err := crmplan.Errorf(crmplan.ECONFLICT, "the CRM database was seeded with %d records and %d reps; crm seed fills only an empty database",
			old.Records, old.Users).In("--records").
			Try("crmplan apply --records %d   # keep the data, or: crmplan destroy, then apply --records %d", old.Records, in.Records)
		return infer.UpdateResponse[CrmDatabaseState]{Output: CrmDatabaseState{old}}, providerError(err)
	}
	return resp, nil
}
