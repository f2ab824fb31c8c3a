package serve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
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
	return split(ctx, l, h, log, 0, other)
}

// SplitServerFirst is Split for a protocol whose server speaks first
// (SMTP's greeting): a client that sends nothing within wait is handed
// to other, which greets it. HTTP clients send their request at once.
func SplitServerFirst(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger, wait time.Duration, other func(net.Conn)) error {
	return split(ctx, l, h, log, wait, other)
}

func split(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger, wait time.Duration, other func(net.Conn)) error {
	httpConns := NewHandoff(l.Addr())
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
		go route(c, httpConns, wait, other)
	}
}

// route peeks at the first four bytes: "GET " or "HEAD" is HTTP. With a
// wait, a client silent that long goes to other.
func route(c net.Conn, httpConns *Handoff, wait time.Duration, other func(net.Conn)) {
	r := bufio.NewReader(c)
	if wait > 0 {
		_ = c.SetReadDeadline(time.Now().Add(wait))
	}
	head, err := r.Peek(4)
	pc := &PeekedConn{Conn: c, R: r}
	if wait > 0 {
		_ = c.SetReadDeadline(time.Time{})
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// A fresh reader: this one would return the timeout once more.
			got, _ := r.Peek(r.Buffered())
			pc.R = bufio.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(got)), c))
			other(pc)
			return
		}
	}
	if err != nil {
		c.Close()
		return
	}
	switch string(head) {
	case "GET ", "HEAD":
		httpConns.Hand(pc)
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

// Handoff is a net.Listener whose connections are handed to it, for a
// server (http.Server, an SMTP server) that takes only a listener.
type Handoff struct {
	conns chan net.Conn
	addr  net.Addr
	once  sync.Once
	done  chan struct{}
}

// NewHandoff returns a Handoff that reports addr as its address.
func NewHandoff(addr net.Addr) *Handoff {
	return &Handoff{conns: make(chan net.Conn), addr: addr, done: make(chan struct{})}
}

// Hand gives c to the server's Accept, or closes it once h is closed.
func (h *Handoff) Hand(c net.Conn) {
	select {
	case h.conns <- c:
	case <-h.done:
		c.Close()
	}
}

func (h *Handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, errors.New("listener closed")
	}
}

func (h *Handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *Handoff) Addr() net.Addr { return h.addr }
