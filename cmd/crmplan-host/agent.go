package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// agentCommand is the plumbing a host's Receptor node runs for each unit of
// work the mesh controller sends (work types crmplan-VERB): the payload is
// on stdin, the output streams back to the controller, a non-zero exit
// fails the unit with this output as its error text.
func agentCommand() *cli.Command {
	hostDir := &cli.StringFlag{Name: "host-dir", Usage: "the host's directory (releases, roles, logs); required"}
	role := &cli.StringFlag{Name: "role", Usage: "web, api or worker; required"}
	host := func(c *cli.Context) agent.Host { return agent.Host{Dir: c.String("host-dir")} }
	cmd := &cli.Command{
		Name:  "agent",
		Usage: "work a host runs for the mesh controller (started by the host's Receptor node)",
		Subcommands: append([]*cli.Command{
			{
				Name:   "install",
				Usage:  "install the release archive on stdin (tar.gz, at most 256 MiB), checked by SHA-256 before anything is unpacked; the previous release is kept",
				Flags:  []cli.Flag{hostDir, &cli.StringFlag{Name: "version"}, &cli.StringFlag{Name: "sha256"}},
				Before: requireFlags("host-dir", "version", "sha256"),
				Action: func(c *cli.Context) error {
					h := host(c)
					if err := h.Install(c.String("version"), c.String("sha256"), c.App.Reader); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "release %s is current (previous: %s)\n", h.Current(), orNone(h.Previous()))
					return nil
				},
			},
			{
				Name:   "rollback",
				Usage:  "make the previous release current again",
				Flags:  []cli.Flag{hostDir},
				Before: requireFlags("host-dir"),
				Action: func(c *cli.Context) error {
					v, err := host(c).Rollback()
					if err == nil {
						fmt.Fprintf(c.App.Writer, "release %s is current again\n", v)
					}
					return err
				},
			},
			{
				Name:  "start",
				Usage: "start a role from the spec on stdin (JSON: role, listen, args, env) and wait until it is healthy",
				Flags: []cli.Flag{hostDir, &cli.BoolFlag{Name: "in-place", Usage: "change the running role without restarting it (crm api, worker and etl take a new pool size), " +
					"or fail with a conflict when that needs a restart"}},
				Before: requireFlags("host-dir"),
				Action: func(c *cli.Context) error {
					var spec agent.RoleSpec
					if err := json.NewDecoder(c.App.Reader).Decode(&spec); err != nil {
						return crmplan.Errorf(crmplan.EINVALID, "role spec on stdin: %w", err).In("payload")
					}
					if c.Bool("in-place") {
						return agentRoleDone(c, "changed in place", spec.Role, func(string) error { return host(c).StartInPlace(c.Context, spec) })
					}
					return agentRoleDone(c, "started", spec.Role, func(self string) error { return host(c).Start(c.Context, self, spec) })
				},
			},
			{
				Name:   "stop",
				Usage:  "stop a role gracefully",
				Flags:  []cli.Flag{hostDir, role},
				Before: requireFlags("host-dir", "role"),
				Action: func(c *cli.Context) error {
					return agentRoleDone(c, "stopped", c.String("role"), func(string) error { return host(c).Stop(c.String("role")) })
				},
			},
			{
				Name:   "restart",
				Usage:  "restart a role on the current release and wait until it is healthy",
				Flags:  []cli.Flag{hostDir, role},
				Before: requireFlags("host-dir", "role"),
				Action: func(c *cli.Context) error {
					return agentRoleDone(c, "restarted", c.String("role"), func(self string) error {
						return host(c).Restart(c.Context, self, c.String("role"))
					})
				},
			},
			{
				Name:   "migrate",
				Usage:  "run crm migrate of the current release; stdin is a JSON object of environment variables (CRM_DATABASE_URL)",
				Flags:  []cli.Flag{hostDir},
				Before: requireFlags("host-dir"),
				Action: func(c *cli.Context) error {
					var env map[string]string
					if err := json.NewDecoder(c.App.Reader).Decode(&env); err != nil {
						return crmplan.Errorf(crmplan.EINVALID, "environment on stdin: %w", err).In("payload")
					}
					return host(c).Migrate(c.Context, env, c.App.Writer)
				},
			},
			{
				Name:   "health",
				Usage:  "report a role's health as JSON; fails when it is not ready",
				Flags:  []cli.Flag{hostDir, role},
				Before: requireFlags("host-dir", "role"),
				Action: func(c *cli.Context) error {
					h, err := host(c).CheckHealth(c.Context, c.String("role"))
					if err != nil {
						return err
					}
					if err := writeJSON(c.App.Writer, h); err != nil {
						return err
					}
					if !h.Ready {
						return crmplan.Errorf(crmplan.EUNAVAILABLE, "crm %s on %s is not ready: %s", h.Role, h.Listen, h.Reason).In("--role")
					}
					return nil
				},
			},
			{
				Name:   "drain",
				Usage:  "take an api backend out of this host's balancer rotation (answers when its requests are done), or put it back with --undrain",
				Flags:  []cli.Flag{hostDir, &cli.StringFlag{Name: "backend", Usage: "the backend's base URL"}, &cli.BoolFlag{Name: "undrain"}, &cli.StringFlag{Name: "role", Value: "web", Usage: "the balancing role: web, or integration (the ESB)"}},
				Before: requireFlags("host-dir", "backend"),
				Action: func(c *cli.Context) error {
					return host(c).Drain(c.Context, c.String("role"), c.String("backend"), c.Bool("undrain"), c.App.Writer)
				},
			},
			{
				Name:   "status",
				Usage:  "report the host's releases and roles as JSON",
				Flags:  []cli.Flag{hostDir},
				Before: requireFlags("host-dir"),
				Action: func(c *cli.Context) error {
					st, err := host(c).Status(c.Context)
					if err != nil {
						return err
					}
					return writeJSON(c.App.Writer, st)
				},
			},
		}, append(agentDatabaseCommands(hostDir, host), agentKillCommand(hostDir, host), agentProbeCommand(hostDir), agentLoadCommand(hostDir, host), agentPackagesCommand(hostDir, host))...),
	}
	for _, sub := range cmd.Subcommands {
		sub.Action = withUnitError(sub.Action)
	}
	return cmd
}

// withUnitError makes a failed unit end its output with the error's code,
// place and hint (wire.UnitError), which the controller gives the user as
// if the command had run on their machine: a unit's exit status says none
// of it.
func withUnitError(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := action(c)
		if err != nil {
			e := wire.UnitError{Code: crmplan.ErrorCode(err), Hint: crmplan.ErrorHint(err)}
			var ce *crmplan.Error
			if errors.As(err, &ce) {
				e.Place = ce.Field
			}
			fmt.Fprint(c.App.ErrWriter, e.Line())
		}
		return err
	}
}

// requireFlags fails a subcommand whose flags are missing as a usage error
// (exit 2) on one line: urfave/cli's Required would print the help page
// into the unit's output.
func requireFlags(names ...string) cli.BeforeFunc {
	return func(c *cli.Context) error {
		for _, n := range names {
			if c.String(n) == "" {
				return crmplan.Errorf(crmplan.EINVALID, "--%s is required", n).In("crmplan-host agent "+c.Command.Name).
					Try("crmplan-host agent %s --help", c.Command.Name)
			}
		}
		return nil
	}
}

// agentRoleDone runs a role action with the crmplan binary as supervisor
// and says what happened.
func agentRoleDone(c *cli.Context, did, role string, action func(self string) error) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := action(self); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "crm %s %s\n", role, did)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
