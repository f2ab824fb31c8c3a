package provision

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
	os.Exit(m.Run())
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
