package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
)

// Exit codes. 99 for a failed SLO is k6's ThresholdsHaveFailed, so CI
// pipelines that already know k6 read crmplan verify the same way.
const (
	exitOK        = 0
	exitFailure   = 1  // the command ran and failed (a process died, a server refused)
	exitUsage     = 2  // bad flags, a bad plan file, a value out of range: nothing was done
	exitSLOFailed = 99 // the load test ran and missed a threshold
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run executes the CLI with args and returns the process exit code. Tests call
// it in-process with their own writers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := newApp(stdout, stderr).RunContext(ctx, args)
	return report(err, stderr)
}

// report prints err for a person and returns its exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var exit cli.ExitCoder
	if errors.As(err, &exit) && crmplan.ErrorCode(err) == crmplan.EINTERNAL {
		// urfave/cli's own errors (unknown flag, bad flag value) are usage errors.
		fmt.Fprintf(stderr, "crmplan: %v\n", err)
		return exit.ExitCode()
	}
	fmt.Fprintf(stderr, "crmplan: %v\n", err)
	if hint := crmplan.ErrorHint(err); hint != "" {
		fmt.Fprintf(stderr, "Try: %s\n", hint)
	}
	return exitCode(err)
}

func exitCode(err error) int {
	switch crmplan.ErrorCode(err) {
	case "":
		return exitOK
	case crmplan.EINVALID:
		return exitUsage
	case crmplan.ESLO:
		return exitSLOFailed
	default:
		return exitFailure
	}
}

// newApp builds the command tree. It has no side effects: tests build one per
// case with their own writers.
func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "crmplan",
		Usage:   "size, deploy, load-test and report on three-tier CRM systems",
		Version: version,
		Description: strings.TrimSpace(`
One plan file drives the whole loop:

   crmplan size --named-users 3000 --concurrency 60% --tpm 5 --records 25M --write plan.yaml
   crmplan apply --plan plan.yaml       # Pulumi provisions the hosts, the CRM is deployed
   crmplan verify --plan plan.yaml      # k6 drives the target rate against the SLO
   crmplan report --plan plan.yaml      # the capacity report for stakeholders
   crmplan destroy --plan plan.yaml     # nothing left behind`),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// The library must never call os.Exit: run maps errors to exit codes.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return crmplan.Errorf(crmplan.EINVALID, "%v", err).Try("crmplan --help")
		},
		Commands: withUsageErrors(commands()),
	}
}

// withUsageErrors makes a bad flag of any command a usage error (exit 2) with
// a hint, instead of urfave/cli's help dump on stdout.
func withUsageErrors(cmds []*cli.Command) []*cli.Command {
	for _, cmd := range cmds {
		name := cmd.Name
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return crmplan.Errorf(crmplan.EINVALID, "%v", err).In("crmplan "+name).Try("crmplan %s --help", name)
		}
	}
	return cmds
}

// commands lists every command; each lives in its own file.
func commands() []*cli.Command {
	return append([]*cli.Command{
		sizeCommand(),
		previewCommand(),
		applyCommand(),
		statusCommand(),
		probeCommand(),
		destroyCommand(),
		failoverCommand(),
		verifyCommand(),
		calibrateCommand(),
		k6Command(),
		reportCommand(),
		exportCommand(),
		inventoryCommand(),
		vpnCommand(),
	}, hostCompatCommands()...)
}
