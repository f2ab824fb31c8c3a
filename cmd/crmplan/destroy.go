package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision"
)

func destroyCommand() *cli.Command {
	return &cli.Command{
		Name:      "destroy",
		Usage:     "tear the stack down, leaving no process, port or file behind",
		UsageText: "crmplan destroy (--plan FILE | --stack NAME) [--target aws] [--purge] [--yes] [--state-dir DIR]",
		Description: strings.TrimSpace(`
Pulumi deletes every resource of the stack: the CRM roles and PostgreSQL servers are
stopped, the host directories removed, then the stack itself. The state dir goes too
when no other stack is left in it. On the ssh target the machines are left as they were,
but for the Debian packages apply --install-packages installed: destroy lists them, and
--purge apt-get purges them.

With --target aws it destroys the plan's AWS stack (PLAN-aws: the VPC, instances and
databases apply --target aws made), with the same credentials and aws plugin.

Examples:
   crmplan destroy --plan examples/simplecrm.yaml
   crmplan destroy --stack simplecrm --yes
   crmplan destroy --plan examples/simplecrm.yaml --target aws`),
		Flags: append(deployFlags(),
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation on a terminal"},
			targetFlag(),
			&cli.BoolFlag{Name: "purge", Usage: "also apt-get purge the Debian packages crmplan installed on the ssh target's machines (apply --install-packages); without it they are listed and left"},
		),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, false)
			if err != nil {
				return err
			}
			if onAWS, err := awsTarget(c); err != nil || onAWS {
				if err != nil {
					return err
				}
				return destroyAWS(c, req, format)
			}
			req.Purge = c.Bool("purge")
			res, err := provision.Destroy(c.Context, req)
			if err != nil || res == nil {
				return err
			}
			out := struct {
				Stack   string              `json:"stack" yaml:"stack"`
				Changes map[string]int      `json:"changes" yaml:"changes"`
				Left    map[string][]string `json:"packages_left,omitempty" yaml:"packages_left,omitempty"`
				Purged  map[string][]string `json:"packages_purged,omitempty" yaml:"packages_purged,omitempty"`
			}{req.Stack, res.Changes, res.Packages, res.Purged}
			_, err = encode(c.App.Writer, out, format)
			return err
		},
	}
}
