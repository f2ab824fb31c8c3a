package provision

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/crmplan/crmplan/provision/supervise"
)

// TestMain lets the test binary be what the crmplan binary is in
// production: the Pulumi provider plugin when started through the
// pulumi-resource-crmplan symlink, and the supervisor of host processes.
// The engine and Process.Start run os.Executable(), which here is this
// binary.
func TestMain(m *testing.M) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if filepath.Base(os.Args[0]) == PluginBinary {
		err := ServePlugin(ctx)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) == 4 && os.Args[1] == "supervise" && os.Args[2] == "--spec" {
		err := supervise.Run(ctx, os.Args[3], os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	stop()
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// builtDir holds the crmplan binary testCrmplan builds once per run.
var (
	builtDir     string
	buildCrmplan sync.Once
	builtErr     error
)

// testCrmplan is a crmplan built from this tree: the hosts' agents run
// `crmplan-host agent` for every work unit, which this test binary is not, so
// the built crmplan is the plugin, supervisor and agent of the tests'
// stacks.
func testCrmplan(t *testing.T) string {
	t.Helper()
	buildCrmplan.Do(func() {
		if builtDir, builtErr = os.MkdirTemp("", "crmplan-provision-bin-"); builtErr != nil {
			return
		}
		// crmplan-host beside it: the hosts' agent and supervisor.
		build := exec.Command("go", "build", "-o", builtDir+"/", "./cmd/crmplan", "./cmd/crmplan-host")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			builtErr = fmt.Errorf("go build ./cmd/crmplan ./cmd/crmplan-host: %v\n%s", err, out)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return filepath.Join(builtDir, "crmplan")
}

// testPulumi is the Pulumi CLI `make bin/pulumi` builds.
func testPulumi(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("../bin/pulumi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no Pulumi CLI at %s: run make bin/pulumi", path)
	}
	return path
}
