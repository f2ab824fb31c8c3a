package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision"
)

func previewCommand() *cli.Command {
	return &cli.Command{
		Name:      "preview",
		Usage:     "show what apply would change (Pulumi preview)",
		UsageText: "crmplan preview --plan FILE [--state-dir DIR] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Runs a Pulumi preview of the local deployment (after refreshing the stack's state from
the running hosts) and prints a line per resource: + create, ~ update, +- replace,
- delete, or same. Nothing changes.

Examples:
   crmplan preview --plan examples/simplecrm.yaml
   crmplan preview --plan examples/simplecrm.yaml --output json`),
		Flags: append(deployFlags(),
			&cli.StringFlag{Name: "records", Usage: "records apply would seed", Value: "1000"},
			&cli.IntFlag{Name: "users", Usage: "sales reps apply would seed", Value: 10},
			isolateFlag(),
		),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, true)
			if err != nil {
				return err
			}
			changes, err := provision.Preview(c.Context, req)
			if err != nil {
				return err
			}
			out := struct {
				Stack   string         `json:"stack" yaml:"stack"`
				Changes map[string]int `json:"changes" yaml:"changes"`
				Changed bool           `json:"changed" yaml:"changed"`
			}{req.Stack, changes, provision.Changed(changes)}
			_, err = encode(c.App.Writer, out, format)
			return err
		},
	}
}
