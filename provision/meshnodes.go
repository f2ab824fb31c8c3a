package provision

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ec2"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// MeshNodes is the stack's Receptor mesh: a node per host (the agent the
// CRM is deployed through) and the controller's node, which peers with
// the DMZ relay only. CrmService resources send their work through it.
type MeshNodes struct {
	targets target.Set
}

// MeshHost is one host of the mesh.
type MeshHost struct {
	Name    string `pulumi:"name"`
	Zone    string `pulumi:"zone"`
	Address string `pulumi:"address"`
	Dir     string `pulumi:"dir"`
	// Role is set for loadgen hosts only, whose machines get K6Bin too.
	Role string `pulumi:"role,optional"`
}

// MeshZone is a zone and its kind (the relay is the first DMZ host).
type MeshZone struct {
	Name string `pulumi:"name"`
	Kind string `pulumi:"kind"`
}

// MeshNodesArgs are the inputs of MeshNodes.
type MeshNodesArgs struct {
	StateDir string     `pulumi:"stateDir"`
	Stack    string     `pulumi:"stack"`
	Zones    []MeshZone `pulumi:"zones"`
	Hosts    []MeshHost `pulumi:"hosts"`
	Port     int        `pulumi:"port"`
	Receptor string     `pulumi:"receptor"`
	// AgentBin is the crmplan-host binary the hosts' nodes run for work units.
	AgentBin string `pulumi:"agentBin"`
	// K6Bin is the crmplan binary a loadgen host's agent runs k6 from:
	// the ssh target installs it on those machines. Empty without them.
	K6Bin string `pulumi:"k6Bin,optional"`
	// Target names the adapter that made the hosts, whose bootstrap starts
	// their nodes; empty is the default.
	Target string `pulumi:"target,optional"`
	// RelayPublic is the relay's address the controller dials, when it
	// is not the one the hosts dial (the aws target's Elastic IP).
	RelayPublic string `pulumi:"relayPublic,optional"`
}

// MeshNodesState is the mesh as recorded in state.
type MeshNodesState struct {
	MeshNodesArgs
	Relay   string `pulumi:"relay"`
	Running bool   `pulumi:"running"`
}

func (*MeshNodes) Annotate(a infer.Annotator) { a.SetToken("index", "MeshNodes") }

func (in MeshNodesArgs) mesh(targets target.Set) (*mesh.Mesh, error) {
	name := in.Target
	if name == "" {
		name = target.Default
	}
	t, ok := targets[name]
	if !ok && name != ssh.Name {
		return nil, crmplan.Errorf(crmplan.EINVALID, "target %q is not known to this crmplan", name).In("mesh " + in.Stack)
	}
	hosts := map[string]target.Host{}
	for _, h := range in.Hosts {
		hosts[h.Name] = target.Host{Name: h.Name, Zone: h.Zone, Address: h.Address, Dir: h.Dir}
	}
	topo := topology.Topology{}
	for _, z := range in.Zones {
		topo.Zones = append(topo.Zones, topology.Zone{Name: z.Name, Kind: topology.ZoneKind(z.Kind)})
	}
	dirs := map[string]string{}
	for _, h := range in.Hosts {
		topo.Hosts = append(topo.Hosts, topology.Host{Name: h.Name, Zone: h.Zone, Address: h.Address})
		dirs[h.Name] = h.Dir
	}
	opts := mesh.Options{Port: in.Port, Receptor: in.Receptor, AgentBin: in.AgentBin, Target: name,
		HostDir:  func(host string) string { return dirs[host] },
		Launcher: func(host string) target.NodeLauncher { return t.Nodes(hosts[host]) }}
	if name == ssh.Name {
		// The machines' own: the bootstrap installs the agent there.
		st, err := mesh.SSHTarget(stackdir.Paths{StateDir: in.StateDir, Stack: in.Stack}, in.AgentBin)
		if err != nil {
			return nil, err
		}
		st.K6, st.K6Hosts = in.K6Bin, map[string]bool{}
		for _, h := range in.Hosts {
			st.K6Hosts[h.Name] = h.Role == string(topology.RoleLoadgen)
		}
		opts.Remote = true
		opts.Launcher = func(host string) target.NodeLauncher { return st.Nodes(hosts[host]) }
		// A relay machine with a private address (an EC2 instance of the
		// export): the nodes dial that, this machine its public one.
		opts.RelayPublic = in.RelayPublic
	}
	if name == ec2.Name {
		// The instances' cloud-init wrote every node's files, the CA's
		// copies among them, into the node's own directory, and linked
		// the AMI's crmplan where the work types run it.
		opts.Remote, opts.RelayPublic = true, in.RelayPublic
	}
	return mesh.New(in.StateDir, in.Stack, topo, opts)
}

// start writes the CA, certificates and configs, starts every node that
// does not run with its config yet and waits until the controller reaches
// every host through the relay.
func (in MeshNodesArgs) start(ctx context.Context, targets target.Set) (MeshNodesState, error) {
	st := MeshNodesState{MeshNodesArgs: in}
	m, err := in.mesh(targets)
	if err != nil {
		return st, providerError(err)
	}
	st.Relay = m.Relay().ID
	if err := m.Save(in.StateDir); err != nil {
		return st, err
	}
	if err := m.Start(ctx); err != nil {
		return st, providerError(err)
	}
	st.Running = true
	return st, nil
}

// Create starts the mesh.
func (r *MeshNodes) Create(ctx context.Context, req infer.CreateRequest[MeshNodesArgs]) (infer.CreateResponse[MeshNodesState], error) {
	resp := infer.CreateResponse[MeshNodesState]{ID: req.Inputs.Stack + "-mesh", Output: MeshNodesState{MeshNodesArgs: req.Inputs}}
	if req.DryRun {
		return resp, nil
	}
	var err error
	resp.Output, err = req.Inputs.start(ctx, r.targets)
	return resp, err
}

// Read reports the mesh as not running when any of its nodes is down, so
// that the next apply starts it again.
func (r *MeshNodes) Read(ctx context.Context, req infer.ReadRequest[MeshNodesArgs, MeshNodesState]) (infer.ReadResponse[MeshNodesArgs, MeshNodesState], error) {
	st := req.State
	m, err := st.mesh(r.targets)
	if err != nil {
		st.Running = false
	} else {
		st.Running = true
		for _, n := range m.States() {
			st.Running = st.Running && n.Running
		}
	}
	return infer.ReadResponse[MeshNodesArgs, MeshNodesState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Diff updates in place: Start restarts exactly the nodes whose config
// changed.
func (*MeshNodes) Diff(ctx context.Context, req infer.DiffRequest[MeshNodesArgs, MeshNodesState]) (infer.DiffResponse, error) {
	d := diffInputs(req.State.MeshNodesArgs, req.Inputs)
	markNotRunning(&d, req.State.Running)
	return d, nil
}

// Update starts the mesh with its new layout and stops the nodes of hosts
// that left it.
func (r *MeshNodes) Update(ctx context.Context, req infer.UpdateRequest[MeshNodesArgs, MeshNodesState]) (infer.UpdateResponse[MeshNodesState], error) {
	resp := infer.UpdateResponse[MeshNodesState]{Output: MeshNodesState{MeshNodesArgs: req.Inputs}}
	if req.DryRun {
		return resp, nil
	}
	kept := map[string]bool{}
	for _, h := range req.Inputs.Hosts {
		kept[h.Dir] = true
	}
	for _, h := range req.State.Hosts {
		if !kept[h.Dir] {
			if err := mesh.StopHostNode(h.Dir); err != nil {
				return resp, fmt.Errorf("host %s: %w", h.Name, err)
			}
		}
	}
	var err error
	resp.Output, err = req.Inputs.start(ctx, r.targets)
	return resp, err
}

// Delete stops every node, the controller first, and removes the stack's
// mesh directory (CA, keys, controller node).
func (r *MeshNodes) Delete(ctx context.Context, req infer.DeleteRequest[MeshNodesState]) (infer.DeleteResponse, error) {
	in := req.State.MeshNodesArgs
	var errs []error
	if m, err := in.mesh(r.targets); err == nil {
		errs = append(errs, m.Stop())
	}
	// Whatever the mesh could be built from: no node may outlive its host.
	for _, h := range in.Hosts {
		errs = append(errs, mesh.StopHostNode(h.Dir))
	}
	if err := errors.Join(errs...); err != nil {
		return infer.DeleteResponse{}, err
	}
	return infer.DeleteResponse{}, os.RemoveAll(stackdir.Paths{StateDir: in.StateDir, Stack: in.Stack}.MeshDir())
}

// openMesh is the stack's mesh as MeshNodes saved it, with every node
// running (a no-op when they do).
func openMesh(ctx context.Context, stateDir, stack string) (*mesh.Mesh, error) {
	m, err := mesh.Open(stateDir, stack, targets())
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}
