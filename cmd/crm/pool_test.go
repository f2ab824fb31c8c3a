package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPoolResizesOnHangup: every role that keeps a pool to the database
// (api, worker, etl) takes a new size from --db-max-conns-file on SIGHUP,
// in the same process: the agent's way when the role's tier scales and
// the sizing gives each server a new share. pgx connects lazily, so the
// roles serve their metrics with no database answering, which is all
// this test asks of them.
func TestPoolResizesOnHangup(t *testing.T) {
	// The worker keeps no schedule file (it would be in the working
	// directory, the package's).
	own := map[string][]string{"api": nil, "worker": {"--state-file", ""}, "etl": nil}
	for role, extra := range own {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, role+".pool")
			if err := os.WriteFile(file, []byte("4\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			args := append([]string{role, "--listen", addr, "--database-url", "postgres://crm@127.0.0.1:1/crm", "--db-max-conns-file", file}, extra...)
			if role != "api" {
				args = append(args, "--inbox", filepath.Join(dir, "inbox"))
			}
			cmd := start(t, dir, role, args...)
			waitPool(t, addr, 4)

			if err := os.WriteFile(file, []byte("2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			waitPool(t, addr, 2)
			// Still the same process: SIGHUP's default would have ended it.
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				t.Errorf("crm %s after SIGHUP: %v", role, err)
			}

			// A file it cannot read leaves the pool as it is.
			if err := os.WriteFile(file, []byte("many\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if got := poolSize(t, addr); got != 2 {
				t.Errorf("crm %s after a SIGHUP with %q in its pool file: pool %d, want 2 kept", role, "many", got)
			}
		})
	}
}

// poolSize reads the primary pool's size from the role's metrics.
func poolSize(t *testing.T, addr string) int {
	t.Helper()
	n, err := readPool(addr)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readPool reads the primary pool's size from the role's metrics at addr.
func readPool(addr string) (int, error) {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	const metric = `crm_db_pool_connections{pool="primary",state="max"} `
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, metric); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("%s/metrics has no %s", addr, metric)
}

// waitPool waits until the role at addr reports a primary pool of want.
func waitPool(t *testing.T, addr string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := readPool(addr)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool at %s never became %d (last: %d, %v)", addr, want, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
