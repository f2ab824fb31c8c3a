package main

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
)

// hostCompatCommands are the commands hosts ran from crmplan before they
// had crmplan-host (agent, supervise, watchdog, guard). A stack applied
// by an older crmplan still has mesh nodes configured to run them from
// this binary until the next apply moves the nodes to crmplan-host; until
// then each is handed to crmplan-host next to this binary, with the same
// arguments, stdin and output, by exec: status, verify and that apply
// work meanwhile.
func hostCompatCommands() []*cli.Command {
	var out []*cli.Command
	for _, name := range []string{"agent", "supervise", "watchdog", "guard"} {
		out = append(out, &cli.Command{
			Name:            name,
			Usage:           "crmplan-host " + name + ", for hosts set up by an older crmplan",
			Hidden:          true,
			SkipFlagParsing: true,
			Action: func(c *cli.Context) error {
				host, err := hostBinaryBeside()
				if err != nil {
					return err
				}
				argv := append([]string{host, name}, c.Args().Slice()...)
				return crmplan.Errorf(crmplan.EUNAVAILABLE, "exec %s: %w", host, syscall.Exec(host, argv, os.Environ()))
			},
		})
	}
	return out
}

// hostBinaryBeside is crmplan-host in this binary's directory.
func hostBinaryBeside() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	host := filepath.Join(filepath.Dir(self), "crmplan-host")
	if _, err := os.Stat(host); err != nil {
		return "", crmplan.Errorf(crmplan.EUNAVAILABLE, "the hosts' work runs crmplan-host, and %s is missing", host).
			Try("make build   # or install crmplan-host next to %s, then crmplan apply", self)
	}
	return host, nil
}
