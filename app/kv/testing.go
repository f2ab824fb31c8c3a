package kv

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

// TestPassword is the store's password in tests.
const TestPassword = "test-password-0123456789"

// StartTest runs a throw-away Redis behind a Front on a free port of
// 127.0.0.1 for a test, with TestPassword and its data in dir (a new
// temporary directory when ""), and returns the front's address. It skips
// the test when redis-server is not installed and stops both on cleanup.
func StartTest(t testing.TB, dir string) string {
	t.Helper()
	addr, stop := startTest(t, dir)
	t.Cleanup(stop)
	return addr
}

// startTest is StartTest with the stop left to the caller.
func startTest(t testing.TB, dir string) (string, func()) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (make deps)")
	}
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	s, err := Start(ctx, Config{Dir: filepath.Join(dir, "kv"), Password: TestPassword, MemoryMB: 8, Log: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		s.Stop()
		t.Fatal(err)
	}
	f := &Front{Socket: s.cfg.Socket(), HTTP: serve.Handler(serve.Config{Role: "kv", Ready: s.Ready, Metrics: metrics.New("kv"), Log: log}), Log: log}
	served := make(chan struct{})
	go func() { _ = f.Serve(ctx, l); close(served) }()
	var once sync.Once
	return l.Addr().String(), func() {
		once.Do(func() {
			cancel()
			<-served
			s.Stop()
			<-s.Done()
		})
	}
}
