package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/terraform"
	"github.com/crmplan/crmplan/topology"
)

func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "inventory",
		Usage:     "write the ssh target's inventory (machines.yaml) from an applied Terraform export",
		UsageText: "crmplan inventory --from-terraform DIR [--plan FILE] [--out machines.yaml] [--user root] [--key FILE] [--known-hosts FILE] [--via HOST]",
		Description: strings.TrimSpace(`
After crmplan export and terraform apply, the machines exist: this reads their addresses from
terraform output -json in DIR (the export's output crmplan_inventory) and writes the inventory
crmplan apply --target ssh reads. DMZ machines are dialled at their public address, with their
private one beside it (private:), where their roles listen and the mesh's nodes dial the relay;
the others, in private subnets, through a DMZ machine (via:, as ProxyJump). Terraform does not know how
you log in, so the user, the key and the known_hosts file come from the flags; the known_hosts
file must hold the machines' host keys before apply (unknown keys are refused).

With --plan, the export must be of that plan and hold every one of its hosts but a vpn one
(which the ssh target skips).

Examples:
   crmplan export --plan examples/simplecrm.yaml --out infra/
   (cd infra && terraform init && terraform apply -var ami=ami-0123456789abcdef0 -var operator_cidr=203.0.113.7/32)
   crmplan inventory --from-terraform infra/ --plan examples/simplecrm.yaml --out machines.yaml
   crmplan apply --plan examples/simplecrm.yaml --target ssh --inventory machines.yaml`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from-terraform", Usage: "directory of an applied crmplan export"},
			&cli.StringFlag{Name: "plan", Usage: "the plan the export was made from, to check it against", EnvVars: []string{"CRMPLAN_PLAN"}},
			&cli.StringFlag{Name: "out", Usage: "inventory file to write; - writes it to stdout", Value: "machines.yaml"},
			&cli.StringFlag{Name: "user", Usage: "login user of every machine", Value: "root"},
			&cli.StringFlag{Name: "key", Usage: "private key file (default: the agent at SSH_AUTH_SOCK)"},
			&cli.StringFlag{Name: "known-hosts", Usage: "known_hosts file every host key is checked against", Value: "~/.ssh/known_hosts"},
			&cli.StringFlag{Name: "via", Usage: "DMZ host the other machines are reached through (default: the plan's first DMZ host with --plan, else the first by name)"},
			&cli.StringFlag{Name: "terraform", Usage: "terraform binary (default: $PATH)", EnvVars: []string{"CRMPLAN_TERRAFORM"}},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml: what was written", Value: "table"},
		},
		Action: runInventory,
	}
}

type inventoryResult struct {
	File     string            `json:"file" yaml:"file"`
	Machines int               `json:"machines" yaml:"machines"`
	Via      map[string]string `json:"via,omitempty" yaml:"via,omitempty"` // host -> the machine it is reached through
}

func runInventory(c *cli.Context) error {
	format := c.String("output")
	if err := checkOutput(format); err != nil {
		return err
	}
	dir := c.String("from-terraform")
	if dir == "" {
		return crmplan.Errorf(crmplan.EINVALID, "no Terraform directory given").In("--from-terraform").
			Try("crmplan inventory --from-terraform infra/ (the directory crmplan export wrote and terraform apply ran in)")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return crmplan.Errorf(crmplan.EINVALID, "%s is no directory", dir).In("--from-terraform").
			Try("crmplan export --plan PLAN.yaml --out %s, then terraform apply there", dir)
	}
	bin, err := terraform.FindTerraform(c.String("terraform"))
	if err != nil {
		return err
	}
	req := terraform.InventoryRequest{Dir: dir, Terraform: bin, User: c.String("user"), Via: c.String("via"),
		Key: c.String("key"), KnownHosts: c.String("known-hosts")}
	if p := c.String("plan"); p != "" {
		plan, err := readPlan(p, "inventory --from-terraform "+dir)
		if err != nil {
			return err
		}
		l, err := topology.Lay(plan)
		if err != nil {
			return err
		}
		req.Plan = &l
	}
	inv, err := terraform.ReadInventory(c.Context, req)
	if err != nil {
		return err
	}
	data, err := inv.Encode(terraform.InventoryHead(dir))
	if err != nil {
		return err
	}
	res := inventoryResult{File: c.String("out"), Machines: len(inv.Machines), Via: map[string]string{}}
	for n, m := range inv.Machines {
		if m.Via != "" {
			res.Via[n] = m.Via
		}
	}
	if res.File == "-" {
		_, err := c.App.Writer.Write(data)
		return err
	}
	if err := renameio.WriteFile(res.File, data, 0o644); err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "cannot write the inventory: %w", err).In("--out").
			Try("--out machines.yaml in a directory you can write")
	}
	if abs, err := filepath.Abs(res.File); err == nil {
		res.File = abs
	}
	return printInventory(c.App.Writer, res, format)
}

func printInventory(w io.Writer, r inventoryResult, format string) error {
	if done, err := encode(w, r, format); done {
		return err
	}
	fmt.Fprintf(w, "Wrote %s: %d machines, %d of them reached through a DMZ machine\n", r.File, r.Machines, len(r.Via))
	fmt.Fprintf(w, "Next: add the machines' host keys to the known_hosts file, then\n  crmplan apply --plan PLAN.yaml --target ssh --inventory %s\n", r.File)
	return nil
}
