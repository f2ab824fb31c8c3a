package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// CrmDatabase is the CRM's schema and seed data in the primary: the crm
// release is installed on the primary's host, whose agent runs `crm
// migrate`, then `crm seed`, next to the database (a LAN host the
// controller reaches only through the mesh). Creating it again after the
// primary was re-initialised is what the primary's system id input is for.
type CrmDatabase struct {
	releases *releases
}

// CrmDatabaseArgs are the inputs of a CrmDatabase.
type CrmDatabaseArgs struct {
	// Host is the primary's host, where the migrations and the seed run.
	Host            string `pulumi:"host"`
	CrmBin          string `pulumi:"crmBin"`
	CrmVersion      string `pulumi:"crmVersion"`
	DatabaseURL     string `pulumi:"databaseUrl" provider:"secret"`
	PrimarySystemID string `pulumi:"primarySystemId"`
	Records         int    `pulumi:"records"`
	Users           int    `pulumi:"users"`
	// PasswordKey is what every seeded user's own password is derived
	// from (seededUsers, as crm seed derives them).
	PasswordKey string `pulumi:"passwordKey" provider:"secret"`
	// BulkLoad are the primary's settings while crm seed loads the
	// records (sizing's BulkLoad); the agent restores the server's own
	// afterwards. They matter only to a seed: a change is no diff.
	BulkLoad map[string]string `pulumi:"bulkLoad,optional"`
	// StateDir and Stack locate the mesh the work goes through.
	StateDir string `pulumi:"stateDir"`
	Stack    string `pulumi:"stack"`
}

// CrmDatabaseState is the schema as recorded in state.
type CrmDatabaseState struct {
	CrmDatabaseArgs
}

func (*CrmDatabase) Annotate(a infer.Annotator) { a.SetToken("index", "CrmDatabase") }

// env is what the agent's crm commands get: secrets travel in the unit's
// payload, never as parameters.
func (in CrmDatabaseArgs) env() (*bytes.Reader, error) {
	data, err := json.Marshal(map[string]string{"CRM_DATABASE_URL": in.DatabaseURL, "CRM_SEED_PASSWORD_KEY": in.PasswordKey})
	return bytes.NewReader(data), err
}

// install sends the crm release to the primary's host and returns the
// mesh and the environment for the crm commands the agent runs there.
func (r *CrmDatabase) install(ctx context.Context, in CrmDatabaseArgs) (*mesh.Mesh, *bytes.Reader, error) {
	m, err := openMesh(ctx, in.StateDir, in.Stack)
	if err != nil {
		return nil, nil, providerError(err)
	}
	rel, err := r.releases.get(ctx, in.CrmBin, in.CrmVersion)
	if err != nil {
		return nil, nil, err
	}
	if _, err := m.Install(ctx, in.Host, rel); err != nil {
		return nil, nil, providerError(err)
	}
	env, err := in.env()
	return m, env, err
}

// Create installs the release on the primary's host, whose agent empties
// the schema (whatever is there was left by a create that was
// interrupted, and crm seed needs it empty), migrates and seeds.
func (r *CrmDatabase) Create(ctx context.Context, req infer.CreateRequest[CrmDatabaseArgs]) (infer.CreateResponse[CrmDatabaseState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[CrmDatabaseState]{ID: "crm", Output: CrmDatabaseState{in}}
	if req.DryRun {
		return resp, nil
	}
	m, env, err := r.install(ctx, in)
	if err != nil {
		return resp, err
	}
	args := []string{"--records", fmt.Sprint(in.Records), "--users", fmt.Sprint(in.Users)}
	for _, k := range slices.Sorted(maps.Keys(in.BulkLoad)) {
		args = append(args, "--bulk-setting", k+"="+in.BulkLoad[k])
	}
	// A seed of millions of records runs for minutes: its progress lines
	// reach apply's output as the engine's info diagnostics.
	logger := p.GetLogger(ctx)
	log := &lineLogger{log: func(line string) {
		// Only crm seed's progress and the agent's bulk-load lines; the
		// rest (migrations' logs) stays in the unit's output.
		if strings.HasPrefix(line, "seed:") || strings.HasPrefix(line, "bulk load:") {
			logger.Info(line)
		}
	}}
	_, err = m.Run(ctx, in.Host, mesh.Work{Type: wire.WorkSeed, Payload: env, Args: args, Stream: log})
	log.Flush()
	return resp, providerError(err)
}

// lineLogger hands every complete line written to it to log.
type lineLogger struct {
	log  func(string)
	part []byte
}

func (w *lineLogger) Write(b []byte) (int, error) {
	w.part = append(w.part, b...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			return len(b), nil
		}
		if line := strings.TrimSpace(string(w.part[:i])); line != "" {
			w.log(line)
		}
		w.part = w.part[i+1:]
	}
}

// Flush logs what is left of an unfinished last line.
func (w *lineLogger) Flush() {
	if line := strings.TrimSpace(string(w.part)); line != "" {
		w.log(line)
	}
	w.part = nil
}

// Diff: a new primary means a new schema; a new binary migrates again; a
// new record count seeds again.
func (*CrmDatabase) Diff(ctx context.Context, req infer.DiffRequest[CrmDatabaseArgs, CrmDatabaseState]) (infer.DiffResponse, error) {
	replace := []string{"primarySystemId", "databaseUrl", "passwordKey"}
	if id := req.Inputs.PrimarySystemID; id != "" && id == req.State.PrimarySystemID {
		// The same cluster at another address (crmplan failover: a promoted
		// replica keeps the system id): the data stays, nothing is reseeded.
		replace = []string{"passwordKey"}
	}
	if req.State.PasswordKey == "" {
		// Seeded before every user had a password of their own: replacing
		// would drop the database's data; Update refuses instead.
		replace = slices.DeleteFunc(replace, func(s string) bool { return s == "passwordKey" })
	}
	old := req.State.CrmDatabaseArgs
	old.BulkLoad = req.Inputs.BulkLoad
	return diffInputs(old, req.Inputs, replace...), nil
}

// Update migrates, on the primary's host, when the binary changed. A
// changed record or user count is refused: seeding needs an empty
// database.
func (r *CrmDatabase) Update(ctx context.Context, req infer.UpdateRequest[CrmDatabaseArgs, CrmDatabaseState]) (infer.UpdateResponse[CrmDatabaseState], error) {
	old, in := req.State.CrmDatabaseArgs, req.Inputs
	resp := infer.UpdateResponse[CrmDatabaseState]{Output: CrmDatabaseState{in}}
	if req.DryRun {
		return resp, nil
	}
	if old.PasswordKey == "" && in.PasswordKey != "" {
		// Refuse rather than drop data, as for a changed record count.
		err := crmplan.Errorf(crmplan.ECONFLICT, "the CRM database was seeded with one password for every user; "+
			"a password of their own for each (finding 7) needs a new seed, which fills only an empty database").In("stack "+in.Stack).
			Try("crmplan destroy --stack %s --yes && crmplan apply ...   # the records go with it", in.Stack)
		return infer.UpdateResponse[CrmDatabaseState]{Output: CrmDatabaseState{old}}, providerError(err)
	}
	if old.Records != in.Records || old.Users != in.Users {
		// crm seed fills only an empty database: refuse rather than drop data.
		err := crmplan.Errorf(crmplan.ECONFLICT, "the CRM database was seeded with %d records and %d reps; crm seed fills only an empty database",
			old.Records, old.Users).In("--records").
			Try("crmplan apply --records %d   # keep the data, or: crmplan destroy, then apply --records %d", old.Records, in.Records)
		return infer.UpdateResponse[CrmDatabaseState]{Output: CrmDatabaseState{old}}, providerError(err)
	}
	if old.CrmVersion == in.CrmVersion && old.CrmBin == in.CrmBin {
		return resp, nil // a failover moved the primary: the schema came along
	}
	m, env, err := r.install(ctx, in)
	if err != nil {
		return resp, err
	}
	_, err = m.Run(ctx, in.Host, mesh.Work{Type: wire.WorkMigrate, Payload: env})
	return resp, providerError(err)
}
