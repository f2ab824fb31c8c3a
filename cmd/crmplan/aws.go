package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/aws"
	"github.com/crmplan/crmplan/topology"
)

// targetFlag is --target: where the hosts are made.
func targetFlag() cli.Flag {
	return &cli.StringFlag{Name: "target", Usage: "where the hosts are made: local (this machine), ssh (existing machines of --inventory) or aws (EC2, with the pulumi-aws program)",
		Value: "local", EnvVars: []string{"CRMPLAN_TARGET"}}
}

// targetFlags are apply's and preview's --target and the aws target's own.
func targetFlags() []cli.Flag {
	return []cli.Flag{
		targetFlag(),
		&cli.StringFlag{Name: "inventory", Usage: "the ssh target's machines.yaml: every host's machine (address, user, port, via, dir) " +
			"and ssh: key and known_hosts (--target ssh)", EnvVars: []string{"CRMPLAN_INVENTORY"}},
		&cli.BoolFlag{Name: "install-packages", Usage: "let each host's agent apt-get install the Debian packages its role runs from (postgresql-15, memcached) " +
			"when its machine lacks one (--target ssh); without it, a missing package stops apply with the host and the package named"},
		&cli.StringFlag{Name: "region", Usage: "AWS region (--target aws)", EnvVars: []string{"AWS_REGION", "AWS_DEFAULT_REGION"}},
		&cli.StringFlag{Name: "ami", Usage: "AMI of the hosts (--target aws): systemd, cloud-init, receptor and crmplan in /usr/local/bin", EnvVars: []string{"CRMPLAN_AWS_AMI"}},
		&cli.StringFlag{Name: "controller-cidr", Usage: "this machine's address as AWS sees it, e.g. 198.51.100.7/32 (--target aws): the mesh relay admits the controller from it",
			EnvVars: []string{"CRMPLAN_CONTROLLER_CIDR"}},
		&cli.StringFlag{Name: "vpc-cidr", Usage: "the VPC's /16 (--target aws)", Value: aws.DefaultVPCCIDR},
		&cli.StringFlag{Name: "receptor-url", Usage: "where the hosts' cloud-init downloads receptor from (--target aws); default: the AMI has it"},
	}
}

// awsTarget says whether the command runs on the aws target, refusing a
// target crmplan does not know.
func awsTarget(c *cli.Context) (bool, error) {
	switch t := c.String("target"); t {
	case "local", "", "ssh":
		return false, nil
	case "aws":
		return true, nil
	default:
		return false, crmplan.Errorf(crmplan.EINVALID, "unknown target %q (want local, ssh or aws)", t).
			In("--target").Try("crmplan %s --target aws --region eu-west-1 --plan examples/simplecrm.yaml", c.Command.Name)
	}
}

// runAWS previews or applies the plan on AWS and prints Pulumi's changes
// (and, for a preview, the plan's cost).
func runAWS(c *cli.Context, req provision.Request, format string, preview bool) error {
	plan, err := readPlan(c.String("plan"), c.Command.Name)
	if err != nil {
		return err
	}
	l, err := topology.Lay(plan)
	if err != nil {
		return err
	}
	opts := aws.Options{Region: c.String("region"), AMI: c.String("ami"), ControllerCIDR: c.String("controller-cidr"),
		VPCCIDR: c.String("vpc-cidr"), ReceptorURL: c.String("receptor-url")}
	ar := provision.AWSRequest{StateDir: req.StateDir, Stack: req.Stack, Laid: l, Options: opts,
		Bins: req.Bins, PulumiHome: aws.PulumiHome(), Preview: true, Out: req.Out}
	// On a terminal, apply shows what it would make (it costs money)
	// and asks first, as on the local target.
	if !preview && req.Confirm != nil {
		res, err := provision.ApplyAWS(c.Context, ar)
		if err != nil {
			return err
		}
		if provision.Changed(res.Changes) && !req.Confirm(fmt.Sprintf("%v", res.Changes)) {
			fmt.Fprintln(c.App.ErrWriter, "apply cancelled: nothing changed")
			return nil
		}
	}
	ar.Preview = preview
	if !preview {
		// Once the instances are up, the roles go through the mesh as on
		// every target; the aws stack's preview was the confirmation.
		deploy := req
		deploy.Confirm = nil
		ar.Deploy = &deploy
	}
	res, err := provision.ApplyAWS(c.Context, ar)
	if err != nil {
		return err
	}
	if res.Deployed != nil {
		return printApply(c.App.Writer, *res.Deployed, req.StateDir, format)
	}
	changes := res.Changes
	out := struct {
		Stack   string               `json:"stack" yaml:"stack"`
		Target  string               `json:"target" yaml:"target"`
		Changes map[string]int       `json:"changes" yaml:"changes"`
		Changed bool                 `json:"changed" yaml:"changed"`
		Cost    *topology.CostChange `json:"cost,omitempty" yaml:"cost,omitempty"`
	}{Stack: req.Stack, Target: "aws", Changes: changes, Changed: provision.Changed(changes)}
	if preview {
		// Nothing records what an AWS stack runs yet: priced as all new.
		cost, err := planCost(l, req.StateDir, req.Stack+"-aws")
		if err != nil {
			return err
		}
		out.Cost = &cost
	}
	if done, err := encode(c.App.Writer, out, format); done || out.Cost == nil {
		return err
	}
	printCost(c.App.Writer, *out.Cost)
	return nil
}

// destroyAWS tears down the plan's aws stack.
func destroyAWS(c *cli.Context, req provision.Request, format string) error {
	changes, err := provision.DestroyAWS(c.Context, provision.AWSRequest{StateDir: req.StateDir, Stack: req.Stack,
		Bins: req.Bins, PulumiHome: aws.PulumiHome(), Out: req.Out}, req.Confirm)
	if err != nil || changes == nil {
		return err
	}
	out := struct {
		Stack   string         `json:"stack" yaml:"stack"`
		Target  string         `json:"target" yaml:"target"`
		Changes map[string]int `json:"changes" yaml:"changes"`
	}{req.Stack, "aws", changes}
	_, err = encode(c.App.Writer, out, format)
	return err
}
