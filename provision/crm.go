package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/topology"
)

// CrmService is one role instance of the bundled CRM (crm web, api or
// worker) on a local host. It is deployed through the stack's Receptor
// mesh (MeshNodes): Create and Update send the release (the crm binary) to
// the host's agent, which checks and installs it, and start the role
// under the host's supervisor; Delete stops it. The provider never starts
// crm itself, and reaches LAN hosts only through the DMZ relay.
type CrmService struct {
	releases *releases
	turns    tierTurns
}

// tierTurns lets one host of a tier at a time update: Pulumi updates a
// tier's hosts together, and a rolling deploy must keep the rest serving
// (and never drain two api servers at once). The provider serves one
// Pulumi operation, so a lock per role in its memory is enough.
type tierTurns struct {
	mu    sync.Mutex
	roles map[string]*sync.Mutex
}

// take waits for role's turn and returns what gives it back.
func (t *tierTurns) take(role string) func() {
	t.mu.Lock()
	if t.roles == nil {
		t.roles = map[string]*sync.Mutex{}
	}
	m := t.roles[role]
	if m == nil {
		m = &sync.Mutex{}
		t.roles[role] = m
	}
	t.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// releases packs the crm binary into a release archive once per digest:
// one archive per apply, whichever resources send it.
type releases struct {
	mu       sync.Mutex
	byDigest map[string]mesh.Release
}

// CrmServiceArgs are the inputs of a CrmService.
type CrmServiceArgs struct {
	Host    string `pulumi:"host"`
	HostDir string `pulumi:"hostDir"`
	Role    string `pulumi:"role"`
	Address string `pulumi:"address"`
	Port    int    `pulumi:"port"`
	CrmBin  string `pulumi:"crmBin"`
	// CrmVersion is the crm binary's digest: a new build is a new release,
	// rolled out host by host.
	CrmVersion string   `pulumi:"crmVersion"`
	Args       []string `pulumi:"args"`
	// Env carries what must not show in a process listing (database URLs
	// with passwords); it travels to the host as the start unit's payload.
	Env map[string]string `pulumi:"env" provider:"secret"`
	// StateDir and Stack locate the mesh the work goes through.
	StateDir string `pulumi:"stateDir,optional"`
	Stack    string `pulumi:"stack,optional"`
	// DrainVia are the web hosts whose balancers have this host as a
	// backend: an update drains it there first and puts it back after.
	DrainVia []string `pulumi:"drainVia,optional"`
	// DrainESB are the integration (ESB) hosts, whose balancers have this
	// host as a backend too: verify's integration calls reach them
	// directly, so a restart not drained there fails requests.
	DrainESB []string `pulumi:"drainEsb,optional"`
}

// CrmServiceState is a role instance as recorded in state.
type CrmServiceState struct {
	CrmServiceArgs
	SupervisorPID int  `pulumi:"supervisorPid"`
	Running       bool `pulumi:"running"`
	// Release is the version the host's agent installed and runs, and
	// ReleaseSHA256 the archive's digest it checked.
	Release       string `pulumi:"release"`
	ReleaseSHA256 string `pulumi:"releaseSha256"`
}

func (*CrmService) Annotate(a infer.Annotator) { a.SetToken("index", "CrmService") }

func (in CrmServiceArgs) listen() string { return net.JoinHostPort(in.Address, fmt.Sprint(in.Port)) }

// process is the role's supervised process, which the host's agent runs
// (provision/mesh/agent names it alike) from the current release.
func (in CrmServiceArgs) process() supervise.Process {
	argv := append([]string{filepath.Join(in.HostDir, "current", "crm"), in.Role, "--listen", in.listen()}, in.Args...)
	return supervise.Process{Name: "crm-" + in.Role, Dir: in.HostDir, Argv: argv}
}

func (in CrmServiceArgs) spec() wire.RoleSpec {
	return wire.RoleSpec{Role: in.Role, Listen: in.listen(), Args: in.Args, Env: in.Env}
}

// backendURL is how web hosts' balancers name this host.
func (in CrmServiceArgs) backendURL() string { return "http://" + in.listen() }

// get packs crmBin (whose digest is digest) once. Its version is crm's
// own version string and the digest's first 12 hex digits, so two builds
// of one version are two releases.
func (r *releases) get(ctx context.Context, crmBin, digest string) (mesh.Release, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rel, ok := r.byDigest[digest]; ok {
		return rel, nil
	}
	out, err := exec.CommandContext(ctx, crmBin, "--version").Output()
	if err != nil {
		return mesh.Release{}, fmt.Errorf("%s --version: %w", crmBin, err)
	}
	version := releaseVersion(string(out), digest)
	tmp, err := os.MkdirTemp("", "crm-release-")
	if err != nil {
		return mesh.Release{}, err
	}
	defer os.RemoveAll(tmp)
	vf := filepath.Join(tmp, "VERSION")
	if err := os.WriteFile(vf, []byte(version+"\n"), 0o644); err != nil {
		return mesh.Release{}, err
	}
	rel, err := mesh.NewRelease(version, map[string]string{"crm": crmBin, "VERSION": vf})
	if err != nil {
		return rel, fmt.Errorf("pack release %s: %w", version, err)
	}
	if r.byDigest == nil {
		r.byDigest = map[string]mesh.Release{}
	}
	r.byDigest[digest] = rel
	return rel, nil
}

// releaseVersion turns `crm --version` output ("crm version 1.2.0") and
// the binary's digest into a release version such as "1.2.0-3f9a0c1d2e4b".
func releaseVersion(versionOutput, digest string) string {
	fields := strings.Fields(versionOutput)
	v := "dev"
	if len(fields) > 0 {
		v = fields[len(fields)-1]
	}
	v = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '+' || r == '-' {
			return r
		}
		return '_'
	}, v)
	if len(v) > 40 {
		v = v[:40]
	}
	if len(digest) > 12 {
		digest = digest[:12]
	}
	return strings.TrimLeft(v, "._+-") + "-" + digest
}

// deploy installs the release on the host through the mesh and starts the
// role from its spec (restarting it when it runs), waiting until healthy.
// A failed unit's error carries the host's own output.
func (r *CrmService) deploy(ctx context.Context, m *mesh.Mesh, in CrmServiceArgs, st *CrmServiceState) error {
	if err := r.install(ctx, m, in, st); err != nil {
		return err
	}
	return start(ctx, m, in, st)
}

// install sends the release to the host's agent. The running role keeps
// the binary it started from until it is restarted.
func (r *CrmService) install(ctx context.Context, m *mesh.Mesh, in CrmServiceArgs, st *CrmServiceState) error {
	rel, err := r.releases.get(ctx, in.CrmBin, in.CrmVersion)
	if err != nil {
		return err
	}
	if _, err := m.Install(ctx, in.Host, rel); err != nil {
		return providerError(err)
	}
	st.Release, st.ReleaseSHA256 = rel.Version, rel.SHA256
	return nil
}

// start (re)starts the role from its spec through the host's agent and
// waits until it is healthy.
func start(ctx context.Context, m *mesh.Mesh, in CrmServiceArgs, st *CrmServiceState) error {
	if _, err := m.StartRole(ctx, in.Host, in.spec()); err != nil {
		return providerError(err)
	}
	st.SupervisorPID, st.Running = in.process().Running()
	return nil
}

// Create checks the port, then deploys the role through the mesh.
func (r *CrmService) Create(ctx context.Context, req infer.CreateRequest[CrmServiceArgs]) (infer.CreateResponse[CrmServiceState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[CrmServiceState]{ID: in.Host + "/" + in.Role, Output: CrmServiceState{CrmServiceArgs: in}}
	if req.DryRun {
		return resp, nil
	}
	// A role an interrupted apply left running holds the port.
	if err := in.process().Stop(); err != nil {
		return resp, err
	}
	if err := checkPortFree(in.Host, in.Address, in.Port); err != nil {
		return resp, providerError(err)
	}
	m, err := openMesh(ctx, in.StateDir, in.Stack)
	if err != nil {
		return resp, providerError(err)
	}
	return resp, r.deploy(ctx, m, in, &resp.Output)
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
// (a new release, arguments, environment) updates it in place. Which web
// hosts drain it is no reason to touch it.
func (*CrmService) Diff(ctx context.Context, req infer.DiffRequest[CrmServiceArgs, CrmServiceState]) (infer.DiffResponse, error) {
	old, in := req.State.CrmServiceArgs, req.Inputs
	old.DrainVia, in.DrainVia = nil, nil
	old.DrainESB, in.DrainESB = nil, nil
	d := diffInputs(old, in, "host", "hostDir", "role", "address", "port")
	markNotRunning(&d, req.State.Running)
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update rolls the new release or spec onto the host: drained from every
// web host's balancer (which waits for its in-flight requests), installed
// and restarted by the host's agent, healthy, and back in rotation, one
// host of a tier at a time (tierTurns).
func (r *CrmService) Update(ctx context.Context, req infer.UpdateRequest[CrmServiceArgs, CrmServiceState]) (infer.UpdateResponse[CrmServiceState], error) {
	in := req.Inputs
	out := CrmServiceState{CrmServiceArgs: in, Release: req.State.Release, ReleaseSHA256: req.State.ReleaseSHA256}
	resp := infer.UpdateResponse[CrmServiceState]{Output: out}
	if req.DryRun {
		return resp, nil
	}
	m, err := openMesh(ctx, in.StateDir, in.Stack)
	if err != nil {
		return resp, providerError(err)
	}
	// A role started before the mesh deployed it has no spec on the host.
	if !req.State.Running || req.State.Release == "" {
		defer r.turns.take(in.Role)()
		_ = req.State.process().Stop()
		return resp, r.deploy(ctx, m, in, &resp.Output)
	}
	// Only a new pool size (its tier scaled): an api, worker or etl server
	// takes it without a restart, so it is not drained either. The agent
	// refuses what needs a restart (a server started before it could), and
	// then it rolls as below.
	if onlyPoolChanged(req.State.CrmServiceArgs, in) {
		_, err := m.StartRoleInPlace(ctx, in.Host, in.spec())
		if err == nil || ctx.Err() != nil {
			resp.Output.SupervisorPID, resp.Output.Running = req.State.SupervisorPID, req.State.Running
			return resp, providerError(err)
		}
	}
	// Installed while the host still serves, on every host of the tier at
	// once: it is out of rotation only for its restart, one host at a
	// time. The same build is on the host already when only the spec
	// changed (crmplan failover repoints the database).
	if in.CrmVersion != req.State.CrmVersion {
		if err := r.install(ctx, m, in, &resp.Output); err != nil {
			return resp, err
		}
	}
	defer r.turns.take(in.Role)()
	drained, err := drain(ctx, m, in, false)
	if err == nil {
		err = start(ctx, m, in, &resp.Output)
	}
	// Back into rotation whatever happened: a host that failed its update
	// is ejected by the balancers' health checks anyway.
	_, undrainErr := drain(ctx, m, CrmServiceArgs{Host: in.Host, Address: in.Address, Port: in.Port, DrainVia: drained.DrainVia, DrainESB: drained.DrainESB}, true)
	return resp, errors.Join(err, undrainErr)
}

// poolInPlace are the roles that take a new database pool size without a
// restart (the agent's resizesPool): the db-client tiers, whose servers'
// shares of the tier's connections change when it scales.
var poolInPlace = map[topology.Role]bool{topology.RoleAPI: true, topology.RoleWorker: true, topology.RoleETL: true}

// onlyPoolChanged says whether in differs from old only in the server's
// database pool size (CRM_DB_MAX_CONNS), which it takes in place.
func onlyPoolChanged(old, in CrmServiceArgs) bool {
	if !poolInPlace[topology.Role(in.Role)] || old.Role != in.Role || old.CrmVersion != in.CrmVersion || !slices.Equal(old.Args, in.Args) {
		return false
	}
	o, n := maps.Clone(old.Env), maps.Clone(in.Env)
	delete(o, poolEnv)
	delete(n, poolEnv)
	return maps.Equal(o, n) && old.Env[poolEnv] != in.Env[poolEnv]
}

// drain takes the host out of (or, with undo, puts it back into) the
// rotation of every balancer in DrainVia (web hosts) and DrainESB
// (integration hosts), through a work unit on each, all at once: each unit
// costs Receptor's polling seconds. It returns the hosts where it
// succeeded, in the same two lists.
func drain(ctx context.Context, m *mesh.Mesh, in CrmServiceArgs, undo bool) (CrmServiceArgs, error) {
	args := []string{"--backend", in.backendURL()}
	if undo {
		args = append(args, "--undrain")
	}
	type balancer struct {
		host string
		esb  bool
	}
	var all []balancer
	for _, h := range in.DrainVia {
		all = append(all, balancer{host: h})
	}
	for _, h := range in.DrainESB {
		all = append(all, balancer{host: h, esb: true})
	}
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, b := range all {
		wg.Go(func() {
			a := args
			if b.esb {
				a = append(append([]string(nil), args...), "--role", string(topology.RoleIntegration))
			}
			if _, err := m.Run(ctx, b.host, mesh.Work{Type: wire.WorkDrain, Args: a}); err != nil {
				errs[i] = providerError(err)
			}
		})
	}
	wg.Wait()
	var done CrmServiceArgs
	for i, b := range all {
		switch {
		case errs[i] != nil:
		case b.esb:
			done.DrainESB = append(done.DrainESB, b.host)
		default:
			done.DrainVia = append(done.DrainVia, b.host)
		}
	}
	return done, errors.Join(errs...)
}

// Delete has the host's agent stop the role and remove it from the host.
func (*CrmService) Delete(ctx context.Context, req infer.DeleteRequest[CrmServiceState]) (infer.DeleteResponse, error) {
	in := req.State.CrmServiceArgs
	m, err := mesh.Open(in.StateDir, in.Stack, targets())
	if err != nil || req.State.Release == "" || !m.Has(in.Host) {
		// No mesh, or the host left it: the host goes too, and its target
		// stops whatever runs there.
		return infer.DeleteResponse{}, nil
	}
	if err := m.Start(ctx); err != nil {
		return infer.DeleteResponse{}, providerError(err)
	}
	_, err = m.Run(ctx, in.Host, mesh.Work{Type: wire.WorkStop, Args: []string{"--role", in.Role}})
	return infer.DeleteResponse{}, providerError(err)
}
