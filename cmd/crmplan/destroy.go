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
		UsageText: "crmplan destroy (--plan FILE | --stack NAME) [--target aws] [--yes] [--state-dir DIR]",
		Description: strings.TrimSpace(`
Pulumi deletes every resource of the stack: the CRM roles and PostgreSQL servers are
stopped, the host directories removed, then the stack itself. The state dir goes too
when no other stack is left in it.

With --target aws it destroys the plan's AWS stack (PLAN-aws: the VPC, instances and
databases apply --target aws made), with the same credentials and aws plugin.

Examples:
   crmplan destroy --plan examples/simplecrm.yaml
   crmplan destroy --stack simplecrm --yes
   crmplan destroy --plan examples/simplecrm.yaml --target aws`),
		Flags: append(deployFlags(),
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation on a terminal"},
			targetFlag(),
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
			changes, err := provision.Destroy(c.Context, req)
			if err != nil || changes == nil {
				return err
			}
			out := struct {
				Stack   string         `json:"stack" yaml:"stack"`
				Changes map[string]int `json:"changes" yaml:"changes"`
			}{req.Stack, changes}
			_, err = encode(c.App.Writer, out, format)
			return err
		},
	}
}
