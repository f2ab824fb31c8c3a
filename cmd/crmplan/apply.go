package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "provision the plan's hosts with Pulumi and deploy the CRM onto them",
		UsageText: "crmplan apply --plan FILE [--isolate | --target aws --region R --ami AMI --controller-cidr CIDR | --target ssh --inventory machines.yaml] [--records N] [--yes] [--state-dir DIR] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Every host of the plan's topology becomes a local host: a directory under the state dir
and a loopback address in its zone's range, running its role's processes under a
supervisor (PostgreSQL primary and streaming replica, the crm roles). Pulumi does the
provisioning with crmplan's own resource provider; state is kept in a file backend in the
state dir. Apply first checks every deployed host for drift (a host directory or a
PostgreSQL data directory gone, a supervised process dead); when it finds some, Pulumi
refreshes the resources, so that the up repairs them. It migrates the CRM's schema and
seeds --records records (full: the plan's workload.records).

A no-change apply does not run Pulumi: when everything the stack's Pulumi program is made
from (the plan as laid out, the target and its machines, --records, --install-packages,
the SHA-256 of the crmplan, crm, receptor and pulumi binaries, certificates, the stack's
Pulumi state and secrets) is what the last apply that completed used, and no host drifted,
apply prints "no changes: inputs unchanged since TIME, N hosts checked" and stops there
(in --output json: "pulumi_ran": false and "unchanged"). Anything that changes the stack
otherwise (destroy, failover, verify --chaos, an apply that failed or was interrupted)
makes the next apply run Pulumi. --refresh runs it regardless, refreshing every resource
from its host first: for a change on a host that the drift check does not look at.
A seed of millions of records prints its progress as it goes (rows, rows/s, ETA, then
each index it builds), with the primary's max_wal_size, checkpoint_timeout and
maintenance_work_mem raised to what size computes for a bulk load while it lasts, then
restored.

With --isolate (or isolate: true in the plan; root on Linux) every host is a network
namespace with its own interface, each zone a bridge, and the zones meet in a router
namespace whose nftables policy allows only the plan's links, the mesh's connections and,
from this machine, the DMZ hosts' service ports. Zones on loopback ranges (127.N.M.0/24)
move to 10.N.M.0/24; a range that collides with one of this machine's routes is refused.

With --target aws the hosts are EC2 instances instead, made by a Pulumi program with the
pulumi-aws SDK: a VPC (--vpc-cidr), per zone a subnet in each of two availability zones
(the DMZ public, the LANs private behind a NAT gateway), a security group per role whose
ingress rules are exactly the plan's links, plus the mesh relay's port for the other hosts
and --controller-cidr, and an instance per host typed as the report prices it, HA tiers
spread over both zones; the relay (the first DMZ host) gets an Elastic IP. Each
instance's cloud-init writes its Receptor node's files and starts the node. Then apply
deploys the roles onto the instances as on every target: this machine's controller node
dials the relay's Elastic IP (which --controller-cidr must be this machine's address for)
and PostgreSQL, the replica and the crm roles go through the mesh; status, probe, verify
and destroy work through it afterwards. database: rds on the db tiers makes them RDS for
PostgreSQL with a read replica (apply then makes the AWS resources and deploys nothing). Credentials
come from the usual places (AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws), the region from
--region or AWS_REGION; the aws provider plugin is your step:
pulumi plugin install resource aws 7.12.0.

With --target ssh --inventory machines.yaml (or target: ssh and inventory: in the plan) the
hosts are existing machines, reached over SSH with their host keys checked against
known_hosts (an unknown or changed key is refused), LAN machines through the DMZ host their
via: names. Every machine is logged in to before any is touched. Each host's files live
under /opt/crmplan/STACK/HOST (a dir: of its own overrides it); its Receptor node runs under
systemd when the machine has it. PostgreSQL and memcached are the machines' own Debian
packages (postgresql-15, memcached): a machine that lacks one stops apply before anything is
written, unless --install-packages lets the host's agent apt-get install it; destroy lists
what it installed and leaves it, or removes it with --purge. crmplan inventory
--from-terraform DIR writes the inventory of machines made by crmplan export and terraform
apply. The inventory:

   hosts:
     web-1: {address: 10.20.1.10, user: root, port: 22}
     api-1: {address: 10.20.2.10, user: root, via: web-1}
     # private: the machine's address inside its network when SSH dials
     # another (an EC2 instance's public address): its roles use that one
   ssh:
     key: ~/.ssh/id_ed25519          # or an agent via SSH_AUTH_SOCK
     known_hosts: ~/.ssh/known_hosts # required

Examples:
   crmplan apply --plan examples/simplecrm.yaml
   crmplan apply --plan examples/simplecrm.yaml --target aws --region eu-west-1 --ami ami-0123456789abcdef0 --controller-cidr 198.51.100.7/32
   sudo crmplan apply --plan examples/simplecrm.yaml --isolate
   crmplan apply --plan examples/simplecrm.yaml --target ssh --inventory machines.yaml
   crmplan apply --plan examples/simplecrm.yaml --target ssh --inventory machines.yaml --install-packages
   crmplan apply --plan examples/simplecrm.yaml --yes --records 25M
   crmplan apply --plan examples/simplecrm.yaml --yes --records full
   crmplan apply --plan examples/simplecrm.yaml --refresh      # run Pulumi even if nothing changed`),
		Flags: append(append(deployFlags(),
			&cli.StringFlag{Name: "records", Usage: "records to seed (1000, 25M, or full: the plan's workload.records)", Value: "1000"},
			&cli.IntFlag{Name: "users", Usage: "sales reps to seed", Value: 10},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation on a terminal"},
			&cli.BoolFlag{Name: "refresh", Usage: "run Pulumi even when nothing changed, refreshing every resource from its host first " +
				"(without it, an apply whose inputs are those of the last one and whose hosts show no drift skips Pulumi)"},
			isolateFlag(),
		), targetFlags()...),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, true)
			if err != nil {
				return err
			}
			req.Refresh = c.Bool("refresh")
			if onAWS, err := awsTarget(c); err != nil || onAWS {
				if err != nil {
					return err
				}
				return runAWS(c, req, format, false)
			}
			res, err := provision.Apply(c.Context, req)
			if err != nil || res.Cancelled {
				if res.Cancelled {
					fmt.Fprintln(c.App.ErrWriter, "apply cancelled: nothing changed")
				}
				return err
			}
			return printApply(c.App.Writer, res, req.StateDir, format)
		},
	}
}

// applyOutput is the JSON/YAML contract of `crmplan apply`: the inventory
// without the load-test password, and Pulumi's change counts.
type applyOutput struct {
	Stack   string                   `json:"stack" yaml:"stack"`
	WebURL  string                   `json:"web_url" yaml:"web_url"`
	Hosts   []stackdir.InventoryHost `json:"hosts" yaml:"hosts"`
	Records int64                    `json:"records" yaml:"records"`
	Changes map[string]int           `json:"changes" yaml:"changes"`
	Changed bool                     `json:"changed" yaml:"changed"`
	// PulumiRan is false when apply found nothing to do without Pulumi;
	// Unchanged then says since when and how many hosts it checked.
	PulumiRan bool                 `json:"pulumi_ran" yaml:"pulumi_ran"`
	Unchanged *provision.Unchanged `json:"unchanged,omitempty" yaml:"unchanged,omitempty"`
	// Skipped are the plan's hosts this target leaves out, with why.
	Skipped []provision.Skip `json:"skipped,omitempty" yaml:"skipped,omitempty"`
}

func printApply(w io.Writer, res provision.Result, stateDir, format string) error {
	inv := res.Inventory
	out := applyOutput{Stack: inv.Stack, WebURL: inv.WebURL, Hosts: inv.Hosts, Records: inv.Records,
		Changes: res.Changes, Changed: provision.Changed(res.Changes), Skipped: res.Skipped, PulumiRan: res.PulumiRan, Unchanged: res.Unchanged}
	if done, err := encode(w, out, format); done {
		return err
	}
	switch {
	case out.Unchanged != nil:
		fmt.Fprintf(w, "no changes: %s (Pulumi not run; --refresh runs it)\n", out.Unchanged)
	case !out.Changed:
		fmt.Fprintln(w, "no changes")
	}
	fmt.Fprintf(w, "\nweb:   %s\nlogin: %s (password in %s)\n\n", inv.WebURL, inv.LoadUser.Email,
		stackdir.Paths{StateDir: stateDir, Stack: inv.Stack}.Inventory())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tROLE\tZONE\tADDRESS\tDIR")
	for _, h := range inv.Hosts {
		addr := h.Address
		if h.Port > 0 {
			addr = fmt.Sprintf("%s:%d", h.Address, h.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.Role, h.Zone, addr, h.Dir)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.HostOnly) > 0 {
		fmt.Fprintf(w, "\nhost only (no local process for their role yet): %s\n", strings.Join(res.HostOnly, ", "))
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "\nskipped %s: %s\nTry: %s\n", s.Host, s.Why, s.Try)
	}
	return nil
}

// servePlugin makes the crmplan binary Pulumi's provider plugin when the
// engine starts it through the pulumi-resource-crmplan symlink.
func servePlugin(ctx context.Context, argv0 string) (int, bool) {
	if filepath.Base(argv0) != provision.PluginBinary {
		return 0, false
	}
	if err := provision.ServePlugin(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", provision.PluginBinary, err)
		return exitFailure, true
	}
	return exitOK, true
}
