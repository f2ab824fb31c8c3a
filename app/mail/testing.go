package mail

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

// TestPassword is the relay's password in tests.
const TestPassword = "test-password-0123456789"

// StartTest runs a relay on a free port of 127.0.0.1 for a test, with
// TestPassword, delivering into a temporary Maildir; it returns the
// relay's address and the Maildir, and stops on cleanup.
func StartTest(t testing.TB) (addr, maildir string) {
	t.Helper()
	maildir = filepath.Join(t.TempDir(), "maildir")
	return StartTestConfig(t, Config{Maildir: maildir}), maildir
}

// StartTestConfig runs a relay of cfg (its Password TestPassword unless
// set, its log discarded) on a free port of 127.0.0.1 for a test and
// returns its address; it stops on cleanup.
func StartTestConfig(t testing.TB, cfg Config) string {
	t.Helper()
	if cfg.Password == "" {
		cfg.Password = TestPassword
	}
	cfg.Log = slog.New(slog.DiscardHandler)
	met := metrics.New("mail")
	r, err := NewRelay(cfg, met.Registry)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = r.Serve(ctx, l, serve.Handler(serve.Config{Role: "mail", Metrics: met, Log: cfg.Log}))
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l.Addr().String()
}

// Delivered returns the messages in maildir/new, oldest first, waiting up
// to wait for at least n of them.
func Delivered(t testing.TB, maildir string, n int, wait time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		entries, err := os.ReadDir(filepath.Join(maildir, "new"))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) >= n || time.Now().After(deadline) {
			names := make([]string, 0, len(entries))
			for _, e := range entries {
				names = append(names, e.Name())
			}
			sort.Strings(names) // Maildir names start with the delivery time
			var out []string
			for _, name := range names {
				b, err := os.ReadFile(filepath.Join(maildir, "new", name))
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(b))
			}
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}
