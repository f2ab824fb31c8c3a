package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// deployFlags are the flags preview, apply, status and destroy share.
func deployFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "plan", Usage: "plan file (see examples/)", EnvVars: []string{"CRMPLAN_PLAN"}},
		&cli.StringFlag{Name: "state-dir", Usage: "where stacks live (default ~/.crmplan)", EnvVars: []string{"CRMPLAN_STATE_DIR"}},
		&cli.StringFlag{Name: "stack", Usage: "stack name (default: the plan's name)", EnvVars: []string{"CRMPLAN_STACK"}},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml", Value: "table", EnvVars: []string{"CRMPLAN_OUTPUT"}},
		&cli.StringFlag{Name: "pulumi", Usage: "Pulumi CLI (default: next to crmplan, then $PATH)", EnvVars: []string{"CRMPLAN_PULUMI"}},
		&cli.StringFlag{Name: "crm", Usage: "crm server binary (default: next to crmplan, then $PATH)", EnvVars: []string{"CRMPLAN_CRM"}},
		&cli.StringFlag{Name: "receptor", Usage: "Receptor binary of the hosts' mesh nodes (default: next to crmplan, then $PATH, then next to --pulumi)", EnvVars: []string{"CRMPLAN_RECEPTOR"}},
	}
}

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "provision the plan's hosts with Pulumi and deploy the CRM onto them",
		UsageText: "crmplan apply --plan FILE [--records N] [--yes] [--state-dir DIR] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Every host of the plan's topology becomes a local host: a directory under the state dir
and a loopback address in its zone's range, running its role's processes under a
supervisor (PostgreSQL primary and streaming replica, the crm roles). Pulumi does the
provisioning with crmplan's own resource provider; state is kept in a file backend in the
state dir. Apply refreshes first, so a dead process or a deleted host is repaired, then
migrates the CRM's schema and seeds --records records.

Examples:
   crmplan apply --plan examples/simplecrm.yaml
   crmplan apply --plan examples/simplecrm.yaml --yes --records 25M`),
		Flags: append(deployFlags(),
			&cli.StringFlag{Name: "records", Usage: "records to seed (1000, 25M)", Value: "1000"},
			&cli.IntFlag{Name: "users", Usage: "sales reps to seed", Value: 10},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation on a terminal"},
		),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, true)
			if err != nil {
				return err
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

// deployRequest reads the plan and the common flags. Progress goes to
// stdout for a table and to stderr for json/yaml, which keeps stdout
// parseable.
func deployRequest(c *cli.Context, needPlan bool) (provision.Request, string, error) {
	format := c.String("output")
	if format != "table" && format != "json" && format != "yaml" {
		return provision.Request{}, "", crmplan.Errorf(crmplan.EINVALID, "unknown output format %q (want table, json or yaml)", format).
			In("--output").Try("crmplan %s --output json ...", c.Command.Name)
	}
	stateDir, err := stateDirFlag(c.String("state-dir"))
	if err != nil {
		return provision.Request{}, "", err
	}
	req := provision.Request{StateDir: stateDir, Stack: c.String("stack"), Out: c.App.Writer,
		Bins: provision.Binaries{Pulumi: c.String("pulumi"), Crm: c.String("crm"), Receptor: c.String("receptor")}}
	if format != "table" {
		req.Out = c.App.ErrWriter
	}
	if c.Command.Name == "apply" || c.Command.Name == "preview" {
		n, err := topology.ParseCount(c.String("records"))
		if err != nil || n < 0 {
			return req, "", crmplan.Errorf(crmplan.EINVALID, "records: want a count like 1000 or 25M, got %q", c.String("records")).
				In("--records").Try("crmplan apply --records 1000")
		}
		req.Records, req.Users = n, c.Int("users")
	}
	if c.Command.Name == "apply" || c.Command.Name == "destroy" {
		if !c.Bool("yes") && term.IsTerminal(int(os.Stdin.Fd())) {
			req.Confirm = confirm(os.Stdin, c.App.ErrWriter)
		}
	}
	path := c.String("plan")
	if path == "" {
		if needPlan || req.Stack == "" {
			return req, "", crmplan.Errorf(crmplan.EINVALID, "a plan file is needed").In("--plan").
				Try("crmplan %s --plan examples/simplecrm.yaml", c.Command.Name)
		}
		return req, format, nil
	}
	if err := planRequest(&req, path); err != nil {
		return req, "", err
	}
	// Without --records and --users a deployed stack keeps what it was
	// seeded with.
	if inv, err := stackdir.LoadInventory(stateDir, req.Stack); err == nil {
		if !c.IsSet("records") {
			req.Records = inv.Records
		}
		if !c.IsSet("users") && inv.Users > 0 {
			req.Users = inv.Users
		}
	}
	return req, format, nil
}

// planRequest sizes the plan and lays out its topology into req.
func planRequest(req *provision.Request, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "cannot read plan: %w", err).In("--plan").
			Try("crmplan apply --plan examples/simplecrm.yaml")
	}
	plan, err := topology.DecodePlan(path, data)
	if err != nil {
		return err
	}
	est, err := sizing.Size(plan.Model())
	if err != nil {
		return err
	}
	topo, err := topology.Build(plan, est)
	if err != nil {
		return err
	}
	if req.Stack == "" {
		req.Stack = plan.Name
	}
	req.Topology, req.Settings, req.Pool = topo, est.Database.Settings, est.Database.PoolPerAppServer
	req.Replication = topology.Async
	for _, t := range plan.Tiers {
		if t.Role == string(topology.RoleDBReplica) && t.Replication != "" {
			req.Replication = t.Replication
		}
		if t.Role == string(topology.RoleDBReplica) {
			req.Failover = t.Failover
		}
	}
	return nil
}

// stateDirFlag defaults the state dir to ~/.crmplan.
func stateDirFlag(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", crmplan.Errorf(crmplan.EINVALID, "no home directory for the default state dir: %w", err).
			In("--state-dir").Try("crmplan apply --state-dir /var/lib/crmplan ...")
	}
	return filepath.Join(home, ".crmplan"), nil
}

// confirm asks on the terminal; anything but y/yes declines.
func confirm(in io.Reader, out io.Writer) func(string) bool {
	return func(summary string) bool {
		fmt.Fprintf(out, "%s\nDo you want to perform these changes? [y/N] ", summary)
		line, _ := bufio.NewReader(in).ReadString('\n')
		answer := strings.ToLower(strings.TrimSpace(line))
		return answer == "y" || answer == "yes"
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
}

func printApply(w io.Writer, res provision.Result, stateDir, format string) error {
	inv := res.Inventory
	out := applyOutput{Stack: inv.Stack, WebURL: inv.WebURL, Hosts: inv.Hosts, Records: inv.Records,
		Changes: res.Changes, Changed: provision.Changed(res.Changes)}
	if done, err := encode(w, out, format); done {
		return err
	}
	if !out.Changed {
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
	return nil
}

// superviseCommand is the hidden supervisor that apply starts for every
// host process: it runs in its own session and restarts its program.
func superviseCommand() *cli.Command {
	return &cli.Command{
		Name:   "supervise",
		Hidden: true,
		Usage:  "run one host process and restart it when it exits (started by apply)",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "spec", Required: true}},
		Action: func(c *cli.Context) error {
			return supervise.Run(c.Context, c.String("spec"), c.App.ErrWriter)
		},
	}
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
