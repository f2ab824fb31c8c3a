// Command crmplan sizes, deploys, load-tests and reports on three-tier CRM
// systems. main only wires signals and exit codes; every command is a small
// function in its own file that parses flags and calls one package function.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if code, ok := servePlugin(ctx, os.Args[0]); ok {
		stop()
		os.Exit(code)
	}
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
