package main

import "github.com/urfave/cli/v2"

// sizeCommand is wired to sizing and topology once they land.
func sizeCommand() *cli.Command {
	return notBuilt("size", "turn a workload into a topology with predicted utilization and latency", "the sizing issue")
}
