package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/terraform"
	"github.com/crmplan/crmplan/topology"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the plan's topology as a Terraform module for AWS",
		UsageText: "crmplan export --plan FILE [--format terraform] [--out DIR] [--validate] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
For teams whose pipelines run Terraform instead of crmplan apply: the plan is sized and laid
out as by crmplan size, then written as DIR/main.tf: a VPC with a subnet per zone (DMZ public,
LANs private), a security group per role whose ingress rules are exactly the topology's links
(the DMZ cannot reach the database), and an instance per host, typed as the report prices it.
For crmplan apply --target ssh on those machines it also opens SSH from var.operator_cidr to
the DMZ and from the mesh relay (the first DMZ host, the inventory's via:) to the other hosts,
and the relay's port 27199 to every host and to var.operator_cidr; the private subnets reach
out (apt-get) through a NAT gateway in the DMZ. A vpn host gets no instance: only the isolated
target runs that role, and export says so (skipped:).

The module is checked with the terraform binary (terraform fmt -check, which parses it).
--validate also runs terraform init and validate, which download the AWS provider from the
registry.

Examples:
   crmplan export --plan examples/simplecrm.yaml --out infra/
   crmplan export --plan examples/simplecrm.yaml --out infra/ --validate
   cd infra && terraform init && terraform plan -var ami=ami-0123456789abcdef0 -var operator_cidr=203.0.113.7/32`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "plan file (see examples/)", EnvVars: []string{"CRMPLAN_PLAN"}},
			&cli.StringFlag{Name: "format", Usage: "what to export: terraform", Value: "terraform"},
			&cli.StringFlag{Name: "out", Usage: "directory to write main.tf into (default: terraform/PLAN-NAME)"},
			&cli.StringFlag{Name: "terraform", Usage: "terraform binary (default: $PATH)", EnvVars: []string{"CRMPLAN_TERRAFORM"}},
			&cli.BoolFlag{Name: "check", Usage: "check the module with terraform fmt -check", Value: true},
			&cli.BoolFlag{Name: "validate", Usage: "also terraform init + validate (needs the registry)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml", Value: "table"},
		},
		Action: runExport,
	}
}

type exportResult struct {
	Plan      string                 `json:"plan" yaml:"plan"`
	Format    string                 `json:"format" yaml:"format"`
	File      string                 `json:"file" yaml:"file"`
	Resources map[string]int         `json:"resources" yaml:"resources"`
	Check     *terraform.CheckResult `json:"check,omitempty" yaml:"check,omitempty"`
	// Skipped are the plan's hosts the module makes no instance for.
	Skipped []terraform.Skip `json:"skipped,omitempty" yaml:"skipped,omitempty"`
}

func runExport(c *cli.Context) error {
	format := c.String("output")
	if err := checkOutput(format); err != nil {
		return err
	}
	if f := c.String("format"); f != "terraform" {
		return crmplan.Errorf(crmplan.EINVALID, "unknown export format %q (want terraform)", f).In("--format").
			Try("crmplan export --plan %s --format terraform", orPlaceholder(c.String("plan")))
	}
	if c.String("plan") == "" {
		return crmplan.Errorf(crmplan.EINVALID, "no plan given").In("--plan").
			Try("crmplan export --plan examples/simplecrm.yaml")
	}
	if c.Bool("validate") && !c.Bool("check") {
		return crmplan.Errorf(crmplan.EINVALID, "--validate needs the check it builds on").In("--check=false").
			Try("crmplan export --plan %s --validate", c.String("plan"))
	}
	// Find terraform before writing anything, so a missing binary costs nothing.
	var bin string
	if c.Bool("check") {
		var err error
		if bin, err = terraform.FindTerraform(c.String("terraform")); err != nil {
			return err
		}
	}
	plan, err := readPlan(c.String("plan"), "size")
	if err != nil {
		return err
	}
	l, err := topology.Lay(plan)
	if err != nil {
		return err
	}
	mod, err := terraform.Generate(l)
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		out = filepath.Join("terraform", plan.Name)
	}
	file, err := terraform.Write(out, mod)
	if err != nil {
		return err
	}
	res := exportResult{Plan: plan.Name, Format: "terraform", File: file, Resources: mod.Resources, Skipped: mod.Skipped}
	if c.Bool("check") {
		check, err := terraform.Check(c.Context, out, bin, c.Bool("validate"))
		if err != nil {
			return fmt.Errorf("%s was written, but: %w", file, err)
		}
		res.Check = &check
	}
	return printExport(c.App.Writer, res, format)
}

func printExport(w io.Writer, r exportResult, format string) error {
	if done, err := encode(w, r, format); done {
		return err
	}
	total := 0
	types := make([]string, 0, len(r.Resources))
	for t, n := range r.Resources {
		types = append(types, t)
		total += n
	}
	sort.Strings(types)
	fmt.Fprintf(w, "Wrote %s: Terraform module for AWS, %d resources\n", r.File, total)
	for _, t := range types {
		fmt.Fprintf(w, "  %-38s %d\n", t, r.Resources[t])
	}
	for _, sk := range r.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", sk.Host, sk.Why)
	}
	if r.Check != nil {
		fmt.Fprintf(w, "terraform %s: fmt -check ok", r.Check.Terraform)
		if r.Check.Validated {
			fmt.Fprint(w, ", validate ok")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Next: cd %s && terraform init && terraform plan -var ami=AMI-ID -var operator_cidr=YOUR-IP/32\n", filepath.Dir(r.File))
	return nil
}
