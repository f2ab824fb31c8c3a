package provision

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/aws"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/ec2"
	"github.com/crmplan/crmplan/topology"
)

// AWSRequest is `crmplan apply --target aws` (and its preview).
type AWSRequest struct {
	StateDir string
	Stack    string // the plan's name; the Pulumi stack is STACK-aws
	Laid     topology.Laid
	Options  aws.Options
	Bins     Binaries
	// PulumiHome is where the aws provider plugin was installed
	// (aws.PulumiHome: $PULUMI_HOME or ~/.pulumi).
	PulumiHome string
	Preview    bool
	Out        io.Writer
	// Deploy, when set, is the deployment of the plan's roles that apply
	// runs through the mesh once the instances are up (DeployAWS): the
	// local target's request, which DeployAWS moves onto the instances.
	Deploy *Request
}

// AWSHosts places a deployment on the instances of the plan's aws stack.
type AWSHosts struct {
	// Options are the aws program's.
	Options aws.Options
	// RelayPublic is the relay's Elastic IP, the stack's relay-public-ip
	// output: the controller dials it through --controller-cidr's rule.
	RelayPublic string
}

// AWSResult is what ApplyAWS did.
type AWSResult struct {
	Changes     map[string]int // Pulumi's counts of the aws stack
	RelayPublic string         // after an apply: the relay's public address
	Deployed    *Result        // after an apply with Deploy: the deployment's
}

// ApplyAWS provisions the plan on AWS with the pulumi-aws program: it
// checks the options and the installed aws plugin before anything is made,
// and runs the program (a preview with r.Preview), whose instances'
// cloud-init writes and starts each host's Receptor node. Credentials come
// from the environment as the aws provider reads them (AWS_PROFILE,
// AWS_ACCESS_KEY_ID, ~/.aws). With r.Deploy, it then deploys the plan's
// roles onto the instances through the mesh, as on every target
// (DeployAWS).
func ApplyAWS(ctx context.Context, r AWSRequest) (AWSResult, error) {
	if err := r.Options.Check(); err != nil {
		return AWSResult{}, err
	}
	pluginDir, err := aws.FindPlugin(r.PulumiHome)
	if err != nil {
		return AWSResult{}, err
	}
	n, opts, err := PrepareAWS(r)
	if err != nil {
		return AWSResult{}, err
	}
	for _, h := range r.Laid.Topology.Hosts {
		if h.Role == topology.RoleVPN {
			fmt.Fprintf(r.Out, "skipped %s: %s\n", h.Name, vpnSkipped)
		}
	}
	bins, err := r.Bins.resolve(false)
	if err != nil {
		return AWSResult{}, err
	}
	paths := stackdir.Paths{StateDir: r.StateDir, Stack: r.Stack + "-aws"}
	s, err := openStack(ctx, paths, bins, aws.Program(n, opts),
		workspace.PluginOptions{Name: "aws", Version: aws.PluginVersion, Path: pluginDir})
	if err != nil {
		return AWSResult{}, err
	}
	if err := s.SetConfig(ctx, "aws:region", auto.ConfigValue{Value: r.Options.Region}); err != nil {
		return AWSResult{}, crmplan.Errorf(crmplan.EINTERNAL, "set aws:region: %w", err)
	}
	if r.Preview {
		changes, err := s.preview(ctx, r.Out)
		return AWSResult{Changes: changes}, err
	}
	start := time.Now()
	prog, ch, done := startProgress(r.Out, false)
	res, err := s.Up(ctx, optup.EventStreams(ch))
	<-done
	if err != nil {
		return AWSResult{}, prog.asError(err)
	}
	out := AWSResult{Changes: map[string]int{}}
	if res.Summary.ResourceChanges != nil {
		out.Changes = *res.Summary.ResourceChanges
	}
	fmt.Fprintf(r.Out, "apply: %s\n", summary(out.Changes, time.Since(start)))
	out.RelayPublic, _ = res.Outputs[aws.OutRelayPublic].Value.(string)
	if r.Deploy == nil {
		return out, nil
	}
	if n.RDS != nil {
		// The deployment expects PostgreSQL on the db hosts, which RDS
		// replaces: not built.
		fmt.Fprintf(r.Out, "deploy: skipped: deploying the roles onto a stack with database: rds is not built (remove it from the db tiers to run crmplan's PostgreSQL on EC2)\n")
		return out, nil
	}
	if out.RelayPublic == "" {
		return out, crmplan.Errorf(crmplan.EINTERNAL, "stack %s has no %s output: the relay has no public address to dial", paths.Stack, aws.OutRelayPublic).
			Try("crmplan apply --target aws --plan PLAN.yaml   # again, once the stack is up")
	}
	if Changed(out.Changes) {
		// An instance made anew at the same address is bare, which the
		// deployment's inputs do not show: its up must run.
		if err := forgetLastUp(r.Deploy.paths()); err != nil {
			return out, err
		}
	}
	deployed, err := DeployAWS(ctx, *r.Deploy, n, opts, out.RelayPublic)
	if err != nil {
		return out, err
	}
	out.Deployed = &deployed
	return out, nil
}

// PrepareAWS lays r's plan out on AWS and completes the program's options
// with the mesh's node files, made (by the same mesh code as the
// deployment's MeshNodes) when the program knows the relay's public
// address. The mesh is the deployment stack's (r.Stack), which DeployAWS
// then forms from this machine.
func PrepareAWS(r AWSRequest) (aws.Network, aws.Options, error) {
	opts := r.Options
	r.Laid.Topology = r.Laid.Topology.Without(topology.RoleVPN) // no instance: the endpoint runs on an isolated stack only
	n, err := aws.Lay(r.Laid, opts)
	if err != nil {
		return n, opts, err
	}
	topo := n.Topology(r.Laid.Topology)
	paths := stackdir.Paths{StateDir: r.StateDir, Stack: r.Stack}
	opts.Nodes = func(relayPublic string) (map[string]aws.NodeFiles, error) {
		return awsNodeFiles(paths, topo, r.Bins.Receptor, relayPublic)
	}
	return n, opts, nil
}

// DeployAWS deploys the plan's roles onto the instances of its aws stack,
// exactly as Apply does on the other targets: the hosts are the instances
// at their private addresses (n), taken as they are (target/ec2), the
// controller's node dials the relay at relayPublic, and PostgreSQL, the
// replica, the roles and the inventory follow through the mesh.
func DeployAWS(ctx context.Context, req Request, n aws.Network, o aws.Options, relayPublic string) (Result, error) {
	req.Topology = n.Topology(req.Topology)
	req.Target, req.Isolate, req.Inventory = ec2.Name, false, ""
	req.AWS = &AWSHosts{Options: o, RelayPublic: relayPublic}
	return Apply(ctx, req)
}

// awsMeshArgs is the deployment's mesh of the hosts as they stand on AWS:
// what the deployment's MeshNodes resource is given (meshNodes), so that
// the node files cloud-init writes are the ones it forms the mesh with.
func awsMeshArgs(paths stackdir.Paths, topo topology.Topology, receptor, relayPublic string) MeshNodesArgs {
	in := MeshNodesArgs{StateDir: paths.StateDir, Stack: paths.Stack, Port: mesh.DefaultPort, Receptor: receptor,
		Target: ec2.Name, RelayPublic: relayPublic}
	for _, z := range topo.Zones {
		in.Zones = append(in.Zones, MeshZone{Name: z.Name, Kind: string(z.Kind)})
	}
	for _, h := range topo.Hosts {
		in.Hosts = append(in.Hosts, MeshHost{Name: h.Name, Zone: h.Zone, Address: h.Address, Dir: paths.HostDir(h.Name)})
	}
	return in
}

// awsNodeFiles prepares the mesh of the hosts as they stand on AWS and
// returns each host's node files for its cloud-init. The work the nodes
// run is the crmplan-host agent the AMI carries.
func awsNodeFiles(paths stackdir.Paths, topo topology.Topology, receptor, relayPublic string) (map[string]aws.NodeFiles, error) {
	m, err := awsMeshArgs(paths, topo, receptor, relayPublic).mesh(targets())
	if err != nil {
		return nil, err
	}
	if err := m.Prepare(); err != nil {
		return nil, err
	}
	out := map[string]aws.NodeFiles{}
	for _, node := range m.Nodes() {
		nf := aws.NodeFiles{Dir: filepath.Dir(node.Dir), Config: node.ConfigPath()}
		for _, f := range m.NodeFiles(node) {
			data, err := os.ReadFile(f.Local)
			if err != nil {
				return nil, err
			}
			nf.Files = append(nf.Files, aws.File{Path: f.Host, Content: data, Mode: "0600"})
		}
		out[node.ID] = nf
	}
	return out, nil
}

// DestroyAWS destroys the deployment on the instances (the roles, through
// the mesh, and the deployment's stack with the mesh's CA and node files),
// then every AWS resource of the plan's aws stack, the stack and its files.
// Confirm, when set, is asked first; declining returns nil changes.
func DestroyAWS(ctx context.Context, r AWSRequest, confirm func(string) bool) (map[string]int, error) {
	start := time.Now()
	pluginDir, err := aws.FindPlugin(r.PulumiHome)
	if err != nil {
		return nil, err
	}
	bins, err := r.Bins.resolve(false)
	if err != nil {
		return nil, err
	}
	paths := stackdir.Paths{StateDir: r.StateDir, Stack: r.Stack + "-aws"}
	noop := func(*pulumi.Context) error { return nil }
	s, err := openStack(ctx, paths, bins, noop, workspace.PluginOptions{Name: "aws", Version: aws.PluginVersion, Path: pluginDir})
	if err != nil {
		return nil, err
	}
	if confirm != nil && !confirm(fmt.Sprintf("destroy every AWS resource of stack %s (VPC, instances, databases)", paths.Stack)) {
		return nil, nil
	}
	// The roles first, through the mesh, while the instances still run
	// them: the same destroy as every target's.
	if inv, err := stackdir.LoadInventory(r.StateDir, r.Stack); err == nil && inv.Target == ec2.Name {
		if _, err := Destroy(ctx, Request{StateDir: r.StateDir, Stack: r.Stack, Bins: r.Bins, Out: r.Out}); err != nil {
			return nil, fmt.Errorf("deployment of stack %s on the instances: %w (no AWS resource was removed)", r.Stack, err)
		}
	}
	changes, err := s.destroyAll(ctx, r.Out)
	if err != nil {
		return nil, err
	}
	if err := sweep(paths); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.Out, "destroy: %s\n", summary(changes, time.Since(start)))
	return changes, nil
}
