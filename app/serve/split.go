package serve

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Split serves l until ctx ends: a connection that opens with an HTTP GET
// or HEAD (the health checks and metrics scrapes every role answers) goes
// to h, any other to other, which owns and closes it. It is how a role
// whose port speaks another protocol (memcached, Redis) is checked and
// scraped like every HTTP role: neither protocol's clients open that way.
func Split(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger, other func(net.Conn)) error {
	httpConns := &connListener{conns: make(chan net.Conn), addr: l.Addr(), done: make(chan struct{})}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
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
		go route(c, httpConns, other)
	}
}

// route peeks at the first four bytes: "GET " or "HEAD" is HTTP.
func route(c net.Conn, httpConns *connListener, other func(net.Conn)) {
	r := bufio.NewReader(c)
	head, err := r.Peek(4)
	if err != nil {
		c.Close()
		return
	}
	pc := &PeekedConn{Conn: c, R: r}
	switch string(head) {
	case "GET ", "HEAD":
		httpConns.hand(pc)
	default:
		other(pc)
	}
}

// PeekedConn reads through the buffer that holds the peeked bytes; R
// reads the same stream, for a protocol that parses lines.
type PeekedConn struct {
	net.Conn
	R *bufio.Reader
}

func (p *PeekedConn) Read(b []byte) (int, error) { return p.R.Read(b) }

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
