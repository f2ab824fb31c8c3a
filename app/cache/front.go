package cache

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Front serves the role's port: HTTP to h, everything else to memcached.
type Front struct {
	Socket string // memcached's unix socket
	HTTP   http.Handler
	Log    *slog.Logger
}

// Serve accepts on l until ctx ends.
func (f *Front) Serve(ctx context.Context, l net.Listener) error {
	httpConns := &connListener{conns: make(chan net.Conn), addr: l.Addr(), done: make(chan struct{})}
	srv := &http.Server{Handler: f.HTTP, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(f.Log.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(httpConns) }()
	go func() {
		<-ctx.Done()
		l.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go f.route(c, httpConns)
	}
}

// route peeks at the first bytes: "GET " or "HEAD" is HTTP (memcached's
// commands are lowercase, its binary protocol starts with 0x80), anything
// else is spliced to memcached.
func (f *Front) route(c net.Conn, httpConns *connListener) {
	r := bufio.NewReader(c)
	head, err := r.Peek(4) // "mn\r\n", the shortest memcached command, is 4 bytes
	if err != nil {
		c.Close()
		return
	}
	pc := &peekedConn{Conn: c, r: r}
	switch string(head) {
	case "GET ", "HEAD":
		httpConns.hand(pc)
	default:
		f.splice(pc)
	}
}

func (f *Front) splice(c *peekedConn) {
	defer c.Close()
	mc, err := net.Dial("unix", f.Socket)
	if err != nil {
		f.Log.Warn("memcached unreachable", "err", err)
		_, _ = io.WriteString(c, "SERVER_ERROR memcached unavailable\r\n")
		return
	}
	defer mc.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, mc)
		c.Conn.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(mc, c)
	mc.(*net.UnixConn).CloseWrite()
	<-done
}

// peekedConn reads through the buffer that holds the peeked bytes.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// connListener hands connections the router classed as HTTP to http.Server.
type connListener struct {
	conns chan net.Conn
	addr  net.Addr
	once  sync.Once
	done  chan struct{}
}

func (l *connListener) hand(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("listener closed")
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
