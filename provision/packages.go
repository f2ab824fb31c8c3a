package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// On the ssh target a host's roles run from the machine's own Debian
// packages: PostgreSQL is the machine's postgresql-15 (pgserver.DefaultBin),
// the cache tier its memcached, the key-value store its redis-server.
// Apply's preflight asks every machine which of its hosts' packages it
// lacks, and stops with the host and the package named unless
// --install-packages; then a Packages resource per such host
// has the host's agent check them again through the mesh and, when
// allowed, apt-get install the missing ones before anything runs from
// them. What the agent installed is listed in the host's directory
// (wire.PackagesFile): destroy says what it leaves, or purges it.

// rolePackages are the Debian packages a role runs from on its machine;
// the crm roles run from the crm binary crmplan installs.
func rolePackages(r topology.Role) []string {
	switch r {
	case topology.RoleDBPrimary, topology.RoleDBReplica, topology.RoleMarketingDB:
		return []string{"postgresql-15"}
	case topology.RoleCache:
		return []string{"memcached"}
	case topology.RoleKV:
		return []string{"redis-server"} // crm kv runs the machine's Redis
	}
	return nil
}

// checkPackages asks every machine of an ssh layout, all at once, which of
// the packages its host's role needs (need: rolePackages) it lacks: a
// missing one is an error naming the host and the package, unless
// l.InstallPackages lets the agent install it.
func checkPackages(ctx context.Context, t *ssh.Target, l Layout, need func(topology.Role) []string) error {
	errs := make([]error, len(l.Hosts))
	var wg sync.WaitGroup
	for i, h := range l.Hosts {
		pkgs := need(h.Role)
		if len(pkgs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			missing, err := t.MissingPackages(ctx, h.Name, pkgs)
			if err == nil && len(missing) > 0 && !l.InstallPackages {
				err = crmplan.Errorf(crmplan.ENOTFOUND, "machine %s lacks the Debian package %s, which role %s runs from",
					t.Inventory.Machines[h.Name].Address, strings.Join(missing, ", "), h.Role).In("host "+h.Name).
					Try("crmplan apply --plan PLAN.yaml --target ssh --inventory %s --install-packages (the host's agent apt-get installs it), or apt-get install %s on the machine",
						t.Inventory.File, strings.Join(missing, " "))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// packages registers a Packages resource for every host of an ssh layout
// whose role runs from the machine's packages, after the mesh's nodes.
func (d *deployer) packages(nodes pulumi.Resource) error {
	if d.l.Target != ssh.Name {
		return nil
	}
	for _, h := range d.l.Hosts {
		pkgs := rolePackages(h.Role)
		if len(pkgs) == 0 {
			continue
		}
		var res plainResource
		err := d.ctx.RegisterResource(tokenPackages, h.Name, pulumi.Map{
			"host": pulumi.String(h.Name), "hostDir": pulumi.String(h.Dir), "packages": pulumi.ToStringArray(pkgs),
			"install": pulumi.Bool(d.l.InstallPackages), "stateDir": pulumi.String(d.l.StateDir), "stack": pulumi.String(d.l.Stack),
		}, &res, pulumi.Parent(d.hosts[h.Name]), pulumi.DependsOn([]pulumi.Resource{nodes}))
		if err != nil {
			return err
		}
		d.pkgs[h.Name] = &res
	}
	return nil
}

// needsPackages makes what runs on host wait for its packages.
func (d *deployer) needsPackages(host string) []pulumi.ResourceOption {
	if p, ok := d.pkgs[host]; ok {
		return []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{p})}
	}
	return nil
}

// Packages are the Debian packages a host's roles run from, on its
// machine, checked (and with Install installed) by the host's agent.
type Packages struct{}

// PackagesArgs are the inputs of a Packages.
type PackagesArgs struct {
	Host     string   `pulumi:"host"`
	HostDir  string   `pulumi:"hostDir"`
	Packages []string `pulumi:"packages"`
	Install  bool     `pulumi:"install,optional"`
	StateDir string   `pulumi:"stateDir"`
	Stack    string   `pulumi:"stack"`
}

// PackagesState is a Packages as recorded in state.
type PackagesState struct {
	PackagesArgs
	// Installed are the packages the agent installed on the machine.
	Installed []string `pulumi:"installed,optional"`
}

func (*Packages) Annotate(a infer.Annotator) { a.SetToken("index", "Packages") }

func (in PackagesArgs) ensure(ctx context.Context) (PackagesState, error) {
	st := PackagesState{PackagesArgs: in}
	m, err := openMesh(ctx, in.StateDir, in.Stack)
	if err != nil {
		return st, providerError(err)
	}
	payload, err := json.Marshal(wire.PackagesOp{Packages: in.Packages, Install: in.Install})
	if err != nil {
		return st, err
	}
	out, err := m.Run(ctx, in.Host, mesh.Work{Type: wire.WorkPackages, Payload: bytes.NewReader(payload)})
	if err != nil {
		return st, providerError(err)
	}
	lines := strings.Split(strings.TrimSpace(out.Text), "\n")
	var rep wire.PackagesReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		return st, fmt.Errorf("host %s: packages: report %q: %w", in.Host, lines[len(lines)-1], err)
	}
	st.Installed = rep.Installed
	return st, nil
}

// Create has the host's agent check the packages, and install the
// missing ones when allowed.
func (*Packages) Create(ctx context.Context, req infer.CreateRequest[PackagesArgs]) (infer.CreateResponse[PackagesState], error) {
	resp := infer.CreateResponse[PackagesState]{ID: req.Inputs.Host + "/packages", Output: PackagesState{PackagesArgs: req.Inputs}}
	if req.DryRun {
		return resp, nil
	}
	var err error
	resp.Output, err = req.Inputs.ensure(ctx)
	return resp, err
}

// Diff checks again for other packages, or a first --install-packages;
// a host that moved checks on its new machine.
func (*Packages) Diff(ctx context.Context, req infer.DiffRequest[PackagesArgs, PackagesState]) (infer.DiffResponse, error) {
	old, in := req.State.PackagesArgs, req.Inputs
	if slices.Equal(old.Packages, in.Packages) && (old.Install || !in.Install) {
		in.Install = old.Install // taking the permission back uninstalls nothing
	}
	d := diffInputs(old, in, "host", "hostDir")
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update checks the packages again.
func (*Packages) Update(ctx context.Context, req infer.UpdateRequest[PackagesArgs, PackagesState]) (infer.UpdateResponse[PackagesState], error) {
	out := PackagesState{PackagesArgs: req.Inputs, Installed: req.State.Installed}
	if req.DryRun {
		return infer.UpdateResponse[PackagesState]{Output: out}, nil
	}
	out, err := req.Inputs.ensure(ctx)
	return infer.UpdateResponse[PackagesState]{Output: out}, err
}

// There is no Delete: packages stay on the machine when the stack goes,
// and Destroy lists those the agent installed (or purges them).

// leftPackages reads, before a destroy, the packages the agents
// installed on the machines of a stack on the ssh target, by host.
func leftPackages(ctx context.Context, t *ssh.Target) (map[string][]string, error) {
	out := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(t.Inventory.Machines))
	for name := range t.Inventory.Machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pkgs, err := t.InstalledPackages(ctx, target.Host{Name: name, Dir: t.Inventory.Dir(t.Stack, name)})
			if err != nil {
				errs <- err
				return
			}
			if len(pkgs) > 0 {
				mu.Lock()
				out[name] = pkgs
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

// purgePackages removes what the agents installed, after a destroy with
// --purge, machine by machine.
func purgePackages(ctx context.Context, t *ssh.Target, left map[string][]string) error {
	for _, host := range slices.Sorted(maps.Keys(left)) {
		if err := t.PurgePackages(ctx, host, left[host]); err != nil {
			return err
		}
	}
	return nil
}
