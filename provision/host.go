package provision

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ec2"
	"github.com/crmplan/crmplan/provision/target/loopback"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/provision/target/ssh"
)

// targets are the adapters this provider makes hosts with.
func targets() target.Set {
	return target.Set{loopback.Name: loopback.Target{Reap: stopAll}, netns.Name: isolated{}, ec2.Name: ec2.Target{}}
}

// TargetHardware is the hardware the named target deploys on, false when
// the target is unknown or cannot tell.
func TargetHardware(name string) (target.Hardware, bool) {
	ht, ok := targets()[name].(target.HardwareTarget)
	if !ok {
		return target.Hardware{}, false
	}
	return ht.Hardware(), true
}

// Host is a host of the topology, made by a target adapter
// (provision/target): the loopback target, the default, makes a directory
// under the stack's state dir and checks a loopback address in the zone's
// range. Everything that then runs on the host gets there through its
// Receptor node (MeshNodes).
type Host struct {
	targets target.Set
	ssh     *sshTargets
}

// HostArgs are the inputs of a Host.
type HostArgs struct {
	Name    string `pulumi:"name"`
	Zone    string `pulumi:"zone"`
	CIDR    string `pulumi:"cidr"`
	Address string `pulumi:"address"`
	Dir     string `pulumi:"dir"`
	// Target names the adapter that makes the host; empty is the default.
	Target string `pulumi:"target,optional"`
	// StateDir and Stack find the stack's inventory on the ssh target,
	// whose hosts' directories are on their machines; empty on the others.
	StateDir string `pulumi:"stateDir,optional"`
	Stack    string `pulumi:"stack,optional"`
}

// HostState is a Host as recorded in the stack's state.
type HostState struct {
	HostArgs
}

func (*Host) Annotate(a infer.Annotator) { a.SetToken("index", "Host") }

func (in HostArgs) host() target.Host {
	return target.Host{Name: in.Name, Zone: in.Zone, CIDR: in.CIDR, Address: in.Address, Dir: in.Dir}
}

// targetName is the adapter's name: states written before targets existed
// name none, and mean the default.
func (in HostArgs) targetName() string {
	if in.Target == "" {
		return target.Default
	}
	return in.Target
}

// target returns the adapter that makes the host.
func (r *Host) target(in HostArgs) (target.Target, error) {
	if in.targetName() == ssh.Name && r.ssh != nil {
		return r.ssh.of(stackdir.Paths{StateDir: in.StateDir, Stack: in.Stack})
	}
	if t, ok := r.targets[in.targetName()]; ok {
		return t, nil
	}
	return nil, crmplan.Errorf(crmplan.EINVALID, "target %q is not known to this crmplan (it knows %v)", in.targetName(), sortedKeys(r.targets)).
		In("host "+in.Name).Try("crmplan apply --target %s", target.Default)
}

// Create makes the host through its target.
func (r *Host) Create(ctx context.Context, req infer.CreateRequest[HostArgs]) (infer.CreateResponse[HostState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[HostState]{ID: in.Name, Output: HostState{in}}
	t, err := r.target(in)
	if err != nil {
		return resp, providerError(err)
	}
	if req.DryRun {
		return resp, nil
	}
	return resp, providerError(t.Create(ctx, in.host()))
}

// Read reports a host whose directory was deleted as gone, so that the next
// apply creates it again.
func (r *Host) Read(ctx context.Context, req infer.ReadRequest[HostArgs, HostState]) (infer.ReadResponse[HostArgs, HostState], error) {
	t, err := r.target(req.State.HostArgs)
	if err != nil {
		return infer.ReadResponse[HostArgs, HostState]{}, providerError(err)
	}
	if ok, err := t.Exists(ctx, req.State.host()); err != nil {
		return infer.ReadResponse[HostArgs, HostState]{}, fmt.Errorf("host %s: %w", req.State.Name, err)
	} else if !ok {
		return infer.ReadResponse[HostArgs, HostState]{}, nil
	}
	return infer.ReadResponse[HostArgs, HostState]{ID: req.ID, Inputs: req.Inputs, State: req.State}, nil
}

// Diff replaces a host on any change: its name, address and directory are
// what the services on it are bound to.
func (*Host) Diff(ctx context.Context, req infer.DiffRequest[HostArgs, HostState]) (infer.DiffResponse, error) {
	old, in := req.State.HostArgs, req.Inputs
	old.Target, in.Target = old.targetName(), in.targetName()
	d := diffInputs(old, in, "name", "zone", "cidr", "address", "dir", "target")
	d.DeleteBeforeReplace = true
	return d, nil
}

// Delete has the target stop whatever still runs on the host and remove it.
func (r *Host) Delete(ctx context.Context, req infer.DeleteRequest[HostState]) (infer.DeleteResponse, error) {
	t, err := r.target(req.State.HostArgs)
	if err != nil {
		return infer.DeleteResponse{}, providerError(err)
	}
	return infer.DeleteResponse{}, t.Destroy(ctx, req.State.host())
}

// stopAll stops every supervised process whose spec is in dir: after an
// interrupted apply, a process may run that no resource in state knows of.
// The loopback target reaps a host with it before removing it.
func stopAll(dir string) error {
	specs, _ := filepath.Glob(filepath.Join(dir, "*.spec.json"))
	var errs []error
	for _, spec := range specs {
		proc, err := supervise.Load(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, proc.Stop())
	}
	return errors.Join(errs...)
}
