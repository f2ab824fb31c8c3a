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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crmplan/crmplan/app/serve"
)

// listenFDEnv names the inherited listening socket of a crm web that
// replaced itself (see serveWeb).
const listenFDEnv = "CRM_LISTEN_FD"

// handoverGrace is how long a handing-over crm web keeps serving with
// "Connection: close" before it stops: long enough for clients under load
// to move to new connections.
const handoverGrace = 1500 * time.Millisecond

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
	// While handing over, every response tells its client to close the
	// connection, so that few idle keep-alive connections are left for
	// Shutdown to close: a client may be sending a request on one just
	// then, and a POST is not retried on a closed connection.
	var closing atomic.Bool
	inner := serve.Handler(cfg)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if closing.Load() {
			w.Header().Set("Connection", "close")
		}
		inner.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	cfg.Log.Info("listening", "addr", l.Addr().String())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	hl := &handoverListener{TCPListener: tl}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(hl) }()
	handover := false
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-hup:
		handover = true
	}
	cfg.Log.Info("shutting down", "handover", handover)
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if !handover {
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	closing.Store(true)
	time.Sleep(handoverGrace)
	// A duplicate keeps the socket (and the connections waiting in its
	// queue) open past Serve's close of the listener and across the exec.
	keep, err := tl.File()
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	// Stop accepting first, and wait until Serve has returned: a connection
	// accepted while Shutdown runs would not be waited for, and the exec
	// would cut it.
	hl.stopping.Store(true)
	_ = tl.SetDeadline(time.Now())
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("handover: %w", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	return execSelf(keep)
}

// handoverListener ends Serve's accept loop when a handover begins: the
// caller sets stopping and a past deadline, and the next Accept error is
// reported as a closed listener.
type handoverListener struct {
	*net.TCPListener
	stopping atomic.Bool
}

func (l *handoverListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err != nil && l.stopping.Load() {
		return nil, net.ErrClosed
	}
	return c, err
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
