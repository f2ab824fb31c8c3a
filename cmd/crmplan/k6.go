package main

import (
	"os"

	"github.com/urfave/cli/v2"
	k6cmd "go.k6.io/k6/cmd"

	// Registers the k6/x/crmplan JavaScript module with the embedded k6.
	_ "github.com/crmplan/crmplan/loadgen/k6ext"
)

// k6Command runs the k6 embedded in this binary, with the k6/x/crmplan
// extension, exactly like a k6 built by xk6: `crmplan k6 run script.js`.
// verify starts it as a child process because k6's Execute reads os.Args
// and ends the process with os.Exit.
func k6Command() *cli.Command {
	return &cli.Command{
		Name:            "k6",
		Usage:           "run the embedded k6 (crmplan k6 run SCRIPT); verify starts it as a child process",
		Hidden:          true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			os.Args = append([]string{"k6"}, c.Args().Slice()...)
			k6cmd.Execute()
			return nil
		},
	}
}
