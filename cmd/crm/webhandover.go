package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crmplan/crmplan/app/serve"
)

// listenFDEnv names the inherited listening socket of a crm web that
// replaced itself (see serveWeb), connFDsEnv its inherited client
// connections (comma-separated descriptors).
const (
	listenFDEnv = "CRM_LISTEN_FD"
	connFDsEnv  = "CRM_CONN_FDS"
)

// handoverTimeout bounds the wait for requests in flight at a handover;
// the exec cuts those still running then.
const handoverTimeout = 20 * time.Second

// serveWeb serves the web role like serve.Run, and on SIGHUP hands its
// listening socket and its client connections over to the binary at its
// own path, which a deploy has just pointed at a new release: it stops
// accepting, lets in-flight requests finish, and execs itself in place
// (same pid, so its supervisor sees nothing) with the sockets kept open.
// Connections that arrive meanwhile wait in the kernel's accept queue, and
// requests sent meanwhile on a keep-alive connection wait in its socket,
// so a web host's restart fails no request, which a stop and start would,
// and so would closing idle connections (see handConn).
func serveWeb(ctx context.Context, cfg serve.Config, tlsCfg *tls.Config) error {
	// Before anything else: SIGHUP's default action ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	conns := newConnTracker()
	tl, inherited, err := webListener(cfg.Listen, conns, cfg.Log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           closeTLSAtHandover(serve.Handler(cfg)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnState:         conns.connState,
		ConnContext:       withConn,
	}
	hl := newHandoverListener(tl, conns)
	q := newConnQueue(tl.Addr())
	var public, inheritedConns net.Listener = hl, q
	goAway := func() {}
	if tlsCfg != nil {
		public = newSniffListener(hl, tlsCfg, srv.ReadHeaderTimeout)
		inheritedConns = newSniffListener(q, tlsCfg, srv.ReadHeaderTimeout)
		if goAway, err = serveHTTP2(srv); err != nil {
			return err
		}
		// A stop (not a handover) asks the HTTP/2 clients to go too:
		// Shutdown waits for their connections, which it cannot close.
		srv.RegisterOnShutdown(goAway)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(public) }()
	go func() { _ = srv.Serve(inheritedConns) }()
	for _, c := range inherited {
		go conns.awaitRequest(c, q, srv.IdleTimeout)
	}
	cfg.Log.Info("listening", "addr", tl.Addr().String(), "inherited_conns", len(inherited))
	handover := false
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	case <-hup:
		handover = true
	}
	cfg.Log.Info("shutting down", "handover", handover)
	if handover {
		return handOver(cfg.Log, tl, hl, served, conns, q, goAway)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handOver stops accepting, waits until the server has let go of every
// connection (each between two requests), and execs the binary at its own
// path with the listening socket and those connections.
func handOver(log *slog.Logger, tl *net.TCPListener, hl *handoverListener, served <-chan error, conns *connTracker, q *connQueue, goAway func()) error {
	path, err := exec.LookPath(os.Args[0])
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	takes := takesConns(path)
	// A duplicate keeps the socket (and the connections waiting in its
	// queue) open past Serve's close of the listener and across the exec.
	keep, err := tl.File()
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	// Stop accepting first, and wait until the accept loop has ended:
	// every connection it accepted is tracked then. (Serve itself may go
	// on a little over TLS: connections whose first byte came are still
	// on their way to it.)
	hl.stopping.Store(true)
	_ = tl.SetDeadline(time.Now())
	select {
	case <-hl.ended:
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("handover: %w", err)
		}
	}
	began := time.Now()
	empty := conns.handover()
	goAway()
	_ = q.Close() // after handover(): a connection it did not pass to the server is kept
	// GOAWAY reaches the HTTP/2 connections the server has; one whose
	// handshake was under way gets it at the next tick.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(handoverTimeout)
wait:
	for {
		select {
		case <-empty:
			break wait
		case <-timeout:
			break wait
		case <-tick.C:
			goAway()
		}
	}
	kept, cut := conns.handedOver()
	if !takes {
		// A release before connection handover would leave them unread.
		for _, c := range kept {
			_ = c.TCPConn.Close()
		}
		kept = nil
	}
	log.Info("handing over", "conns", len(kept), "cut", cut, "waited", time.Since(began).String(), "takes_conns", takes)
	return execSelf(path, keep, kept)
}

// handoverListener ends Serve's accept loop when a handover begins (the
// caller sets stopping and a past deadline, and the next Accept error is
// reported as a closed listener), and tracks what it accepts.
type handoverListener struct {
	*net.TCPListener
	conns    *connTracker
	stopping atomic.Bool
	ended    chan struct{} // closed when Accept has returned for a handover
	end      sync.Once
}

func newHandoverListener(tl *net.TCPListener, conns *connTracker) *handoverListener {
	return &handoverListener{TCPListener: tl, conns: conns, ended: make(chan struct{})}
}

func (l *handoverListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.AcceptTCP()
	if err != nil {
		if l.stopping.Load() {
			l.end.Do(func() { close(l.ended) })
			return nil, net.ErrClosed
		}
		return nil, err
	}
	hc, err := l.conns.wrap(c)
	if err != nil {
		return c, nil // served, but cut by a handover
	}
	return hc, nil
}

// webListener is the inherited socket when there is one, a new one
// otherwise, and the inherited client connections.
func webListener(addr string, conns *connTracker, log *slog.Logger) (*net.TCPListener, []*handConn, error) {
	var l net.Listener
	var err error
	if fd := os.Getenv(listenFDEnv); fd == "" {
		l, err = net.Listen("tcp", addr)
	} else {
		os.Unsetenv(listenFDEnv)
		l, err = fileListener(fd)
	}
	if err != nil {
		return nil, nil, err
	}
	tl, ok := l.(*net.TCPListener)
	if !ok {
		l.Close()
		return nil, nil, fmt.Errorf("listener on %s is not TCP", addr)
	}
	fds := os.Getenv(connFDsEnv)
	os.Unsetenv(connFDsEnv)
	var inherited []*handConn
	for s := range strings.SplitSeq(fds, ",") {
		if s == "" {
			continue
		}
		c, err := fileConn(s, conns)
		if err != nil {
			log.Warn("inherited connection lost", "fd", s, "err", err)
			continue
		}
		inherited = append(inherited, c)
	}
	return tl, inherited, nil
}

func fileListener(fd string) (net.Listener, error) {
	n, err := strconv.Atoi(fd)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", listenFDEnv, fd, err)
	}
	f := os.NewFile(uintptr(n), "inherited listener")
	defer f.Close() // FileListener holds its own duplicate
	return net.FileListener(f)
}

func fileConn(fd string, conns *connTracker) (*handConn, error) {
	n, err := strconv.Atoi(fd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", connFDsEnv, err)
	}
	f := os.NewFile(uintptr(n), "inherited connection")
	defer f.Close() // FileConn holds its own duplicate
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("not a TCP connection")
	}
	return conns.wrap(tc)
}

// takesConnsCommand names the hidden command by which a handover asks the
// binary it is about to exec whether it takes client connections over.
const takesConnsCommand = "web-takes-conns"

// takesConns reports whether the binary at path reads connFDsEnv: a
// release before connection handover answers the command with an error.
func takesConns(path string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, takesConnsCommand).Output()
	return err == nil && strings.TrimSpace(string(out)) == connFDsEnv
}

// execSelf replaces the process with the binary at path (the release's
// `current` path), passing the listening socket and conns on.
func execSelf(path string, sock *os.File, conns []*handConn) error {
	if err := inheritable(sock.Fd()); err != nil {
		return err
	}
	env := append(os.Environ(), listenFDEnv+"="+strconv.Itoa(int(sock.Fd())))
	var fds []string
	for _, c := range conns {
		var ierr error
		err := c.raw.Control(func(fd uintptr) {
			if ierr = inheritable(fd); ierr == nil {
				fds = append(fds, strconv.Itoa(int(fd)))
			}
		})
		if err != nil || ierr != nil {
			_ = c.TCPConn.Close()
		}
	}
	if len(fds) > 0 {
		env = append(env, connFDsEnv+"="+strings.Join(fds, ","))
	}
	err := syscall.Exec(path, os.Args, env)
	runtime.KeepAlive(sock)
	runtime.KeepAlive(conns) // their descriptors must stay open until the exec
	return fmt.Errorf("handover: exec %s: %w", path, err)
}

// inheritable clears close-on-exec: the new program must inherit fd.
func inheritable(fd uintptr) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFD, 0); errno != 0 {
		return fmt.Errorf("handover: clear close-on-exec: %w", errno)
	}
	return nil
}

// closeTLSAtHandover answers with Connection: close on a TLS connection
// once a handover has begun, so that its client opens a new one (which the
// next process accepts) instead of sending its next request on one this
// process is about to close.
func closeTLSAtHandover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _ := r.Context().Value(connKey{}).(net.Conn)
		if hc := trackedConn(nc); hc != nil && hc.closing() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
