package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// What preview, apply, status, destroy and failover share: their flags and
// the provision.Request those flags and the plan make.

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
		&cli.StringFlag{Name: "host-bin", Usage: "crmplan-host binary the hosts run: their mesh agent, supervisors and watchdog (default: next to crmplan, then $PATH, then next to --pulumi)", EnvVars: []string{"CRMPLAN_HOST_BIN"}},
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
		Bins: provision.Binaries{Pulumi: c.String("pulumi"), Crm: c.String("crm"), Receptor: c.String("receptor"), Host: c.String("host-bin")}}
	if format != "table" {
		req.Out = c.App.ErrWriter
	}
	full := false
	if c.Command.Name == "apply" || c.Command.Name == "preview" {
		full = c.String("records") == "full"
		n, err := topology.ParseCount(c.String("records"))
		if !full && (err != nil || n < 0) {
			return req, "", crmplan.Errorf(crmplan.EINVALID, "records: want a count like 1000 or 25M, or full for the plan's workload.records, got %q", c.String("records")).
				In("--records").Try("crmplan %s --records 1000   # or --records full", c.Command.Name)
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
	planRecords, err := planRequest(&req, path)
	if err != nil {
		return req, "", err
	}
	if full {
		if planRecords < 1 {
			return req, "", crmplan.Errorf(crmplan.EINVALID, "--records full seeds the plan's workload.records, and %s has none", path).
				In("--records").Try("crmplan %s --records 25M   # or set workload.records in the plan", c.Command.Name)
		}
		req.Records = planRecords
	}
	req.Isolate = req.Isolate || c.Bool("isolate")
	if err := readTargetFlags(c, &req); err != nil {
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

// planRequest lays out the plan at path into req: the hosts, the
// PostgreSQL settings and pool size of the estimate, and the replica's
// replication and failover.
func planRequest(req *provision.Request, path string) (records int64, err error) {
	plan, err := readPlan(path, "apply")
	if err != nil {
		return 0, err
	}
	l, err := topology.Lay(plan)
	if err != nil {
		return 0, err
	}
	if req.Stack == "" {
		req.Stack = plan.Name
	}
	db := l.Estimate.Database
	req.Topology, req.Settings, req.BulkLoad = l.Topology, db.Settings, db.BulkLoad()
	req.Pools = map[topology.Role]int{}
	for _, tp := range db.Pools {
		req.Pools[topology.Role(tp.Role)] = tp.PerServer
	}
	req.Replication, req.Isolate, req.Instances = topology.Async, plan.Isolate, l.Instances()
	if t := plan.TLS; t != nil {
		rel := func(p string) string {
			if p == "" || filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(filepath.Dir(path), p)
		}
		req.WebTLS = provision.WebTLS{Off: t.Off, CertFile: rel(t.CertFile), KeyFile: rel(t.KeyFile), CAFile: rel(t.CAFile)}
	}
	req.Target, req.Inventory = plan.Target, plan.Inventory
	if req.Inventory != "" && !filepath.IsAbs(req.Inventory) {
		// As the plan names it: beside the plan file.
		req.Inventory = filepath.Join(filepath.Dir(path), req.Inventory)
	}
	for _, t := range plan.Tiers {
		if t.Role == string(topology.RoleDBReplica) && t.Replication != "" {
			req.Replication = t.Replication
		}
		if t.Role == string(topology.RoleDBReplica) {
			req.Failover = t.Failover
		}
	}
	return plan.Workload.Records, nil
}

// readTargetFlags reads --target and --inventory (targetFlags) into req:
// they override the plan's target: and inventory:.
func readTargetFlags(c *cli.Context, req *provision.Request) error {
	if c.IsSet("target") {
		req.Target = c.String("target")
	}
	if c.IsSet("inventory") {
		req.Inventory = c.String("inventory")
	}
	req.InstallPackages = c.Bool("install-packages")
	switch req.Target {
	case "", "local", "aws":
		if req.InstallPackages {
			return crmplan.Errorf(crmplan.EINVALID, "--install-packages is the ssh target's: its machines run PostgreSQL from their own packages").
				In("--install-packages").Try("crmplan %s --target ssh --inventory machines.yaml --install-packages ...", c.Command.Name)
		}
		if req.Inventory != "" {
			return crmplan.Errorf(crmplan.EINVALID, "--inventory lists the ssh target's machines, and the target is %q", req.Target).
				In("--inventory").Try("crmplan %s --target ssh --inventory %s ...", c.Command.Name, req.Inventory)
		}
	case "ssh":
		// Without --inventory, the one an earlier apply saved: provision
		// says when there is none.
	}
	// An unknown --target is awsTarget's to refuse; the plan's target:
	// was checked with the plan.
	return nil
}

// isolateFlag is apply's and preview's --isolate.
func isolateFlag() cli.Flag {
	return &cli.BoolFlag{Name: "isolate", Usage: "every host in its own network namespace, the plan's links enforced between them " +
		"(as the plan's isolate: true; root on Linux; zones on 127.N.M.0/24 move to 10.N.M.0/24)", EnvVars: []string{"CRMPLAN_ISOLATE"}}
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
