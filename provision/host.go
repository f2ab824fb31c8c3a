package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/supervise"
)

// Host is a local host: a directory under the stack's state dir and a
// loopback address inside its zone's range. Linux routes all of
// 127.0.0.0/8 to the loopback interface, so any address there can be bound
// without configuring an interface.
type Host struct{}

// HostArgs are the inputs of a Host.
type HostArgs struct {
	Name    string `pulumi:"name"`
	Zone    string `pulumi:"zone"`
	CIDR    string `pulumi:"cidr"`
	Address string `pulumi:"address"`
	Dir     string `pulumi:"dir"`
}

// HostState is a Host as recorded in the stack's state.
type HostState struct {
	HostArgs
}

func (*Host) Annotate(a infer.Annotator) { a.SetToken("index", "Host") }

// Create makes the host directory after checking the address.
func (*Host) Create(ctx context.Context, req infer.CreateRequest[HostArgs]) (infer.CreateResponse[HostState], error) {
	in := req.Inputs
	resp := infer.CreateResponse[HostState]{ID: in.Name, Output: HostState{in}}
	if err := checkAddress(in); err != nil {
		return resp, providerError(err)
	}
	if req.DryRun {
		return resp, nil
	}
	// 0755: PostgreSQL, running as its own user when crmplan is root, must
	// pass through to its data directory below.
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return resp, fmt.Errorf("host %s: %w", in.Name, err)
	}
	return resp, nil
}

// checkAddress fails unless address is a loopback address inside cidr that
// this machine can bind.
func checkAddress(in HostArgs) error {
	prefix, err := netip.ParsePrefix(in.CIDR)
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "zone %s: range %q: %w", in.Zone, in.CIDR, err).In("host " + in.Name)
	}
	addr, err := netip.ParseAddr(in.Address)
	if err != nil || !prefix.Contains(addr) {
		return crmplan.Errorf(crmplan.EINVALID, "address %q is not in zone %s's range %s", in.Address, in.Zone, in.CIDR).
			In("host " + in.Name)
	}
	if !addr.IsLoopback() {
		return crmplan.Errorf(crmplan.EINVALID, "address %s is not a loopback address; the local target uses 127.0.0.0/8", addr).
			In("host " + in.Name)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(in.Address, "0"))
	if err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "cannot bind %s: %w", in.Address, err).In("host " + in.Name)
	}
	return l.Close()
}

// Read reports a host whose directory was deleted as gone, so that the next
// apply creates it again.
func (*Host) Read(ctx context.Context, req infer.ReadRequest[HostArgs, HostState]) (infer.ReadResponse[HostArgs, HostState], error) {
	if _, err := os.Stat(req.State.Dir); errors.Is(err, os.ErrNotExist) {
		return infer.ReadResponse[HostArgs, HostState]{}, nil
	}
	return infer.ReadResponse[HostArgs, HostState]{ID: req.ID, Inputs: req.Inputs, State: req.State}, nil
}

// Diff replaces a host on any change: its name, address and directory are
// what the services on it are bound to.
func (*Host) Diff(ctx context.Context, req infer.DiffRequest[HostArgs, HostState]) (infer.DiffResponse, error) {
	d := diffInputs(req.State.HostArgs, req.Inputs, "name", "zone", "cidr", "address", "dir")
	d.DeleteBeforeReplace = true
	return d, nil
}

// Delete stops whatever still runs in the host directory, then removes it.
func (*Host) Delete(ctx context.Context, req infer.DeleteRequest[HostState]) (infer.DeleteResponse, error) {
	if err := stopAll(req.State.Dir); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("host %s: %w", req.State.Name, err)
	}
	if err := os.RemoveAll(req.State.Dir); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("host %s: %w", req.State.Name, err)
	}
	return infer.DeleteResponse{}, nil
}

// stopAll stops every supervised process whose spec is in dir: after an
// interrupted apply, a process may run that no resource in state knows of.
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
