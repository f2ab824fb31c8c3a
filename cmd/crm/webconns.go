package main

import (
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// A handover passes crm web's client connections on to the new process,
// not only its listening socket: closing a keep-alive connection is never
// safe, since its client may be sending a request on it just then (and
// does not repeat a POST), and neither is http.Server.Shutdown, which
// also drops, unanswered, every request it reads once it has begun. A
// connection can change hands whenever not one byte of its next request
// has been read: the new process reads that request from the socket.

// handConn is a server connection that a handover can pass on while it is
// between requests: accepted, or idle after a response, and none of the
// next request read. Between requests it waits until the socket is
// readable without reading from it, and reads only if no handover has
// begun meanwhile; once one has, it reports EOF to the server, whose
// Close then keeps the socket open for the next process.
type handConn struct {
	*net.TCPConn
	raw syscall.RawConn
	t   *connTracker

	mu        sync.Mutex
	between   bool // none of the next request read yet
	pipelined bool // a byte arrived while a request was served: the server holds it
	handing   bool // a handover has begun
	kept      bool // the server let go of it during a handover: it goes to the next process
	tls       bool // it carries a TLS session, whose keys this process holds: never handed over
	h2        bool // it speaks HTTP/2: never between requests, closed by GOAWAY (serveHTTP2)
}

// holdsTLS marks the connection as one a handover closes rather than
// passes on: the next process could not read its client's records. Its
// client finds it closed while idle, as after any server's idle timeout,
// and opens a new one, which the next process accepts.
func (c *handConn) holdsTLS() {
	c.mu.Lock()
	c.tls = true
	c.mu.Unlock()
}

// speaksHTTP2 marks a TLS connection the HTTP/2 server took: its frames
// are read all the time, not request by request, so it is never between
// requests, and a handover closes it by GOAWAY rather than by deadline.
func (c *handConn) speaksHTTP2() {
	c.mu.Lock()
	c.h2, c.between = true, false
	c.mu.Unlock()
}

// readDeadlineUnlessHanding sets the read deadline, unless a handover has
// begun: its deadline in the past, which wakes the connection, must stay.
// It reports whether one has.
func (c *handConn) readDeadlineUnlessHanding(t time.Time) (handing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.handing {
		_ = c.TCPConn.SetReadDeadline(t)
	}
	return c.handing
}

func (c *handConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	between, handing := c.between, c.handing
	c.mu.Unlock()
	if !between {
		n, err := c.TCPConn.Read(p)
		// While a request is served, the server reads one byte in the
		// background to notice a client going away; it keeps a byte of
		// a pipelined request, so that request must be served here.
		if n == 1 && len(p) == 1 {
			c.mu.Lock()
			c.pipelined = true
			c.mu.Unlock()
		}
		return n, err
	}
	if handing {
		return c.lastRequest(p)
	}
	werr := c.waitReadable()
	c.mu.Lock()
	handing = c.handing
	if !handing && werr == nil {
		c.between = false // from here on, this process serves the request
	}
	c.mu.Unlock()
	switch {
	case handing:
		return c.lastRequest(p)
	case werr != nil:
		return 0, werr // the server's deadline (idle timeout)
	}
	return c.TCPConn.Read(p)
}

// lastRequest is Read once a handover has begun on a connection between
// requests. A plain one reports EOF: the next process takes it. A TLS one
// cannot change processes, so a request in its socket, or arriving within
// the handover's grace, is served here (with Connection: close, see
// closeTLSAtHandover) rather than cut with the connection: its client has
// sent it and, for a POST, would not send it again. Only a connection with
// nothing to read all through the grace is closed.
func (c *handConn) lastRequest(p []byte) (int, error) {
	c.mu.Lock()
	tls := c.tls
	c.mu.Unlock()
	if !tls {
		return 0, io.EOF
	}
	if !c.pending() {
		c.t.mu.Lock()
		end := c.t.graceEnd
		c.t.mu.Unlock()
		_ = c.TCPConn.SetReadDeadline(end)
		if c.waitReadable() != nil || !c.pending() {
			return 0, io.EOF
		}
	}
	c.mu.Lock()
	c.between = false
	c.mu.Unlock()
	_ = c.TCPConn.SetReadDeadline(time.Time{}) // the handover's wake-up deadline
	return c.TCPConn.Read(p)
}

// pending reports, without waiting or reading, whether the socket holds
// bytes to read.
func (c *handConn) pending() bool {
	ready := false
	_ = c.raw.Control(func(fd uintptr) {
		n, err := peekByte(fd)
		ready = err == nil && n > 0
	})
	return ready
}

// closing reports whether a handover has begun on a TLS connection: its
// responses tell the client to close it.
func (c *handConn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handing && c.tls
}

// waitReadable waits until the socket has data, an EOF or an error to
// read, or its read deadline passes, and reads nothing.
func (c *handConn) waitReadable() error {
	return c.raw.Read(func(fd uintptr) bool {
		_, err := peekByte(fd)
		return err != syscall.EAGAIN
	})
}

// peekByte looks at the socket's next byte without taking it or waiting:
// n is 0 at EOF, err EAGAIN when there is nothing yet.
func peekByte(fd uintptr) (n int, err error) {
	var b [1]byte
	for {
		n, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// Close keeps the socket open when a handover takes the connection.
func (c *handConn) Close() error {
	c.mu.Lock()
	c.kept = c.handing && c.between && !c.tls
	kept := c.kept
	c.mu.Unlock()
	if kept {
		return nil
	}
	return c.TCPConn.Close()
}

// connTracker knows every connection of crm web's server, and at a
// handover waits until the server has let go of each.
type connTracker struct {
	mu      sync.Mutex
	live    map[*handConn]struct{}
	kept    []*handConn
	handing bool
	// graceEnd is when a handover closes the TLS connections still idle
	// (see tlsHandoverGrace).
	graceEnd time.Time
	empty    chan struct{} // closed when a handover has no live connection left
}

func newConnTracker() *connTracker {
	return &connTracker{live: map[*handConn]struct{}{}}
}

// wrap tracks a new connection, accepted or inherited: between requests.
func (t *connTracker) wrap(tc *net.TCPConn) (*handConn, error) {
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &handConn{TCPConn: tc, raw: raw, t: t, between: true}
	t.mu.Lock()
	t.live[c] = struct{}{}
	c.handing = t.handing
	t.mu.Unlock()
	return c, nil
}

// connState is the server's ConnState hook.
func (t *connTracker) connState(nc net.Conn, st http.ConnState) {
	c := trackedConn(nc)
	if c == nil {
		return
	}
	switch st {
	case http.StateIdle:
		c.mu.Lock()
		if !c.h2 {
			c.between, c.pipelined = !c.pipelined, false
		}
		c.mu.Unlock()
	case http.StateClosed, http.StateHijacked:
		t.release(c)
	}
}

// release forgets a connection the server (or awaitRequest, or a sniff) is
// done with.
func (t *connTracker) release(c *handConn) {
	c.mu.Lock()
	kept := c.kept
	c.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[c]; !ok {
		return
	}
	delete(t.live, c)
	if kept {
		t.kept = append(t.kept, c)
	}
	if t.empty != nil && len(t.live) == 0 {
		close(t.empty)
		t.empty = nil
	}
}

// handover marks every connection as handed over, wakes those waiting
// between requests, and returns a channel closed when the server has let
// go of all of them: connections serving a request finish it first.
func (t *connTracker) handover() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handing = true
	t.graceEnd = time.Now().Add(tlsHandoverGrace)
	empty := make(chan struct{})
	if len(t.live) == 0 {
		close(empty)
	} else {
		t.empty = empty
	}
	for c := range t.live {
		c.mu.Lock()
		c.handing = true
		if c.between {
			_ = c.TCPConn.SetReadDeadline(time.Unix(1, 0))
		}
		c.mu.Unlock()
	}
	return empty
}

// tlsHandoverGrace is how long a handover keeps an idle TLS connection
// open for one more request, served with Connection: close, before it
// closes it. Closing an idle connection races with its client sending a
// request on it, which a client does not repeat when it is a POST (Go's
// transport, k6's, retries only idempotent requests): seen as EOFs of
// writes in rolling deploys at 150 req/s. A busy client's connections each
// carry a request well within the grace and are closed after its answer,
// with no race; only connections idle for all of it are closed idle. New
// connections wait in the accept queue meanwhile, so a handover over TLS
// may delay them by up to this long, and fails none.
const tlsHandoverGrace = time.Second

// handedOver returns the connections the next process takes, and how many
// are still served here.
func (t *connTracker) handedOver() (kept []*handConn, live int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.kept, len(t.live)
}

// awaitRequest holds a connection inherited from the previous process
// until its next request arrives, and then passes it to the server
// through q: served at once, it would get the server's header timeout,
// while its client may keep it idle for as long as the idle timeout.
// Idle longer, it is closed, as the server closes idle connections.
func (t *connTracker) awaitRequest(c *handConn, q *connQueue, idle time.Duration) {
	handing := c.readDeadlineUnlessHanding(time.Now().Add(idle))
	var err error
	if !handing {
		err = c.waitReadable()
		c.mu.Lock()
		handing = c.handing
		c.mu.Unlock()
	}
	if err == nil && !handing {
		_ = c.TCPConn.SetReadDeadline(time.Time{})
		select {
		case q.conns <- c:
			return // the server's now
		case <-q.closed:
		}
	}
	_ = c.Close() // kept if a handover has begun
	t.release(c)
}

// connQueue is a listener of the inherited connections whose next request
// has arrived.
type connQueue struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
