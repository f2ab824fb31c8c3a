package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/crmplan/crmplan/app/serve"
)

// listenFDEnv names the inherited listening socket of a crm web that
// replaced itself (see serveWeb).
const listenFDEnv = "CRM_LISTEN_FD"

// serveWeb serves the web role like serve.Run, and on SIGHUP hands its
// listening socket over to the binary at its own path, which a deploy has
// just pointed at a new release: it stops accepting, lets in-flight
// requests finish, and execs itself in place (same pid, so its supervisor
// sees nothing) with the socket kept open. Connections that arrive
// meanwhile wait in the kernel's accept queue instead of being refused, so
// a web host's restart fails no request, which a stop and start would.
func serveWeb(ctx context.Context, cfg serve.Config) error {
	l, err := webListener(cfg.Listen)
	if err != nil {
		return err
	}
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return fmt.Errorf("listener on %s is not TCP", cfg.Listen)
	}
	srv := &http.Server{
		Handler:           serve.Handler(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	cfg.Log.Info("listening", "role", cfg.Role, "addr", l.Addr().String())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	handover := false
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-hup:
		handover = true
	}
	// The socket outlives Shutdown's close of the listener in this copy.
	var keep *os.File
	if handover {
		if keep, err = tl.File(); err != nil {
			return fmt.Errorf("handover: %w", err)
		}
	}
	cfg.Log.Info("shutting down", "role", cfg.Role, "handover", handover)
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if !handover {
		return nil
	}
	return execSelf(keep)
}

// webListener is the inherited socket when there is one, a new one otherwise.
func webListener(addr string) (net.Listener, error) {
	fd := os.Getenv(listenFDEnv)
	if fd == "" {
		return net.Listen("tcp", addr)
	}
	os.Unsetenv(listenFDEnv)
	n, err := strconv.Atoi(fd)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", listenFDEnv, fd, err)
	}
	f := os.NewFile(uintptr(n), "inherited listener")
	defer f.Close() // FileListener holds its own duplicate
	return net.FileListener(f)
}

// execSelf replaces the process with the binary at its own argv[0] (the
// release's `current` path), passing the listening socket on.
func execSelf(sock *os.File) error {
	fd := int(sock.Fd())
	// File() sets close-on-exec; the new program must inherit this one.
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFD, 0); errno != 0 {
		return fmt.Errorf("handover: clear close-on-exec: %w", errno)
	}
	path, err := exec.LookPath(os.Args[0])
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	env := append(os.Environ(), listenFDEnv+"="+strconv.Itoa(fd))
	return syscall.Exec(path, os.Args, env)
}
