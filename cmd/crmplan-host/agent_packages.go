package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// agentPackagesCommand checks, and with install apt-get installs, the
// Debian packages the host's roles run from.
func agentPackagesCommand(hostDir cli.Flag, host func(*cli.Context) agent.Host) *cli.Command {
	return &cli.Command{
		Name: "packages",
		Usage: "make sure the machine has the Debian packages on stdin (JSON: packages, install); with install, apt-get install the missing ones " +
			"and list them in HOSTDIR/" + wire.PackagesFile + "; the last line of the output is the report (JSON)",
		Flags:  []cli.Flag{hostDir},
		Before: requireFlags("host-dir"),
		Action: func(c *cli.Context) error {
			var op wire.PackagesOp
			if err := json.NewDecoder(c.App.Reader).Decode(&op); err != nil {
				return crmplan.Errorf(crmplan.EINVALID, "packages operation on stdin: %w", err).In("payload")
			}
			rep, err := host(c).Packages(c.Context, op, c.App.Writer)
			if err != nil {
				return err
			}
			line, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s\n", line)
			return nil
		},
	}
}
