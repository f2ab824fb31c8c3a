package provision

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/aws"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
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
}

// hostAgent is where the AMI has crmplan, whose agent runs the mesh's work.
const hostAgent = "/usr/local/bin/crmplan"

// ApplyAWS provisions the plan on AWS with the pulumi-aws program: it
// checks the options and the installed aws plugin before anything is made,
// prepares the mesh's certificates and node configs for the hosts' private
// addresses, and runs the program (a preview with r.Preview). Credentials
// come from the environment as the aws provider reads them (AWS_PROFILE,
// AWS_ACCESS_KEY_ID, ~/.aws). It returns Pulumi's change counts.
//
// What it does not do yet: deploy the roles through the mesh once the
// instances run. That needs this machine's controller node to reach the
// relay, which listens on its private address.
func ApplyAWS(ctx context.Context, r AWSRequest) (map[string]int, error) {
	if err := r.Options.Check(); err != nil {
		return nil, err
	}
	pluginDir, err := aws.FindPlugin(r.PulumiHome)
	if err != nil {
		return nil, err
	}
	n, err := aws.Lay(r.Laid, r.Options)
	if err != nil {
		return nil, err
	}
	paths := stackdir.Paths{StateDir: r.StateDir, Stack: r.Stack + "-aws"}
	if r.Options.Nodes, err = awsNodeFiles(paths, n.Topology(r.Laid.Topology), r.Bins.Receptor); err != nil {
		return nil, err
	}
	bins, err := r.Bins.resolve(false)
	if err != nil {
		return nil, err
	}
	s, err := openStack(ctx, paths, bins, aws.Program(n, r.Options),
		workspace.PluginOptions{Name: "aws", Version: aws.PluginVersion, Path: pluginDir})
	if err != nil {
		return nil, err
	}
	if err := s.SetConfig(ctx, "aws:region", auto.ConfigValue{Value: r.Options.Region}); err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "set aws:region: %w", err)
	}
	if r.Preview {
		return s.preview(ctx, r.Out)
	}
	start := time.Now()
	prog, ch, done := startProgress(r.Out, false)
	res, err := s.Up(ctx, optup.EventStreams(ch))
	<-done
	if err != nil {
		return nil, prog.asError(err)
	}
	changes := map[string]int{}
	if res.Summary.ResourceChanges != nil {
		changes = *res.Summary.ResourceChanges
	}
	fmt.Fprintf(r.Out, "apply: %s\n", summary(changes, time.Since(start)))
	return changes, nil
}

// awsNodeFiles prepares the mesh of the hosts as they stand on AWS and
// returns each host's node files for its cloud-init. The work the nodes
// run is the crmplan agent the AMI carries.
func awsNodeFiles(paths stackdir.Paths, topo topology.Topology, receptor string) (map[string]aws.NodeFiles, error) {
	m, err := mesh.New(paths.StateDir, paths.Stack, topo, mesh.Options{Receptor: receptor, AgentBin: hostAgent})
	if err != nil {
		return nil, err
	}
	if err := m.Prepare(); err != nil {
		return nil, err
	}
	out := map[string]aws.NodeFiles{}
	for _, node := range m.Nodes() {
		nf := aws.NodeFiles{Config: node.ConfigPath()}
		for _, path := range m.NodeFiles(node) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			nf.Files = append(nf.Files, aws.File{Path: path, Content: data, Mode: "0600"})
		}
		out[node.ID] = nf
	}
	return out, nil
}

// DestroyAWS deletes every AWS resource of the plan's aws stack, then the
// stack and its files in the state dir (the mesh's CA and node files).
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
