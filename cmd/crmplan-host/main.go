// Command crmplan-host is the part of crmplan that runs on every host of a
// stack: the agent a host's Receptor node runs for each unit of work the
// mesh controller sends (crmplan-host agent VERB), the supervisor that keeps
// each host process running, and the failover watchdog and lease guard.
//
// It links nothing of the planning side (sizing, Pulumi, k6, the cloud
// SDKs): every unit of work starts a process, and crmplan's 145 MB binary
// took 0.16 s of CPU and 61 MB of memory to start where this one takes
// 0.02 s and 11 MB (BENCHMARKS.md), on every host for every unit, and
// every supervisor keeps its memory. A loadgen host's k6 is the one thing
// it runs crmplan for (agent load).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
)

// version is set by the linker (make build), as crmplan's.
var version = "dev"

// Exit codes, as crmplan's: the controller reads a unit's error from its
// output (wire.UnitError), the code says only usage or failure.
const (
	exitOK      = 0
	exitFailure = 1 // the work ran and failed
	exitUsage   = 2 // bad flags or a bad payload: nothing was done
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:            "crmplan-host",
		Usage:           "crmplan's work on a host: the mesh agent, the supervisor, the failover watchdog (started by crmplan apply, not by hand)",
		Version:         version,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return crmplan.Errorf(crmplan.EINVALID, "%v", err).Try("crmplan-host --help")
		},
		Commands: []*cli.Command{agentCommand(), superviseCommand(), watchdogCommand(), guardCommand()},
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "crmplan-host: %v\n", err)
	if hint := crmplan.ErrorHint(err); hint != "" {
		fmt.Fprintf(stderr, "Try: %s\n", hint)
	}
	var exit cli.ExitCoder
	switch {
	case errors.As(err, &exit) && crmplan.ErrorCode(err) == crmplan.EINTERNAL:
		return exit.ExitCode() // urfave/cli's own: a bad flag
	case crmplan.ErrorCode(err) == crmplan.EINVALID:
		return exitUsage
	default:
		return exitFailure
	}
}
