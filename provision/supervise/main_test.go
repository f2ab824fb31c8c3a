package supervise

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary be the supervisor, as the crmplan binary
// is in production: Process.Start runs os.Executable() as
// `supervise --spec FILE`, which here is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "supervise" && os.Args[2] == "--spec" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, os.Args[3], os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
