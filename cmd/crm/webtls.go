package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/net/http2"

	"github.com/crmplan/crmplan/app"
)

// crm web serves HTTPS and plain HTTP on its one public port: the first
// byte a client sends tells them apart (a TLS handshake record starts with
// 22), and a plain request for the UI or the API is redirected to HTTPS.
// One port rather than a second redirect listener, because a second
// listener is one more port in every plan's links, the isolated target's
// firewall and the handover's sockets, for no more than a redirect; and a
// user who types the address without https:// still lands on HTTPS.
// /healthz, /readyz and /metrics answer plain HTTP too: the host's agent,
// the balancer of a proxy and verify's scraper read them from inside the
// stack, and they carry no session.

// tlsRecordHandshake is the first byte of a TLS ClientHello.
const tlsRecordHandshake = 0x16

func webTLSFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-cert-file", EnvVars: []string{"CRM_TLS_CERT_FILE"},
			Usage: "PEM certificate (chain) of the public port; or the PEM itself in CRM_TLS_CERT. Without either, plain HTTP only"},
		&cli.StringFlag{Name: "tls-key-file", EnvVars: []string{"CRM_TLS_KEY_FILE"},
			Usage: "PEM private key of the certificate (mode 0600); or the PEM itself in CRM_TLS_KEY"},
	}
}

// webTLSConfig loads the public port's certificate, or returns nil when
// none is given.
func webTLSConfig(c *cli.Context) (*tls.Config, error) {
	certPEM, err := pemFrom(c.String("tls-cert-file"), "CRM_TLS_CERT", "--tls-cert-file", false)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pemFrom(c.String("tls-key-file"), "CRM_TLS_KEY", "--tls-key-file", true)
	if err != nil {
		return nil, err
	}
	switch {
	case certPEM == nil && keyPEM == nil:
		return nil, nil
	case certPEM == nil || keyPEM == nil:
		return nil, app.Errorf(app.EINVALID, "a certificate needs its key and a key its certificate: give both or neither").In("--tls-cert-file and --tls-key-file")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "%v", err).In("--tls-cert-file and --tls-key-file")
	}
	// h2 first: browsers and k6 speak HTTP/2, whose GOAWAY lets a handover
	// close their connections without losing a request (serveHTTP2).
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{http2.NextProtoTLS, "http/1.1"}}, nil
}

// pemFrom reads file, else the environment variable env; nil when neither
// is set. A secret file others may read is refused.
func pemFrom(file, env, flag string, secret bool) ([]byte, error) {
	if file == "" {
		if v := os.Getenv(env); v != "" {
			return []byte(v), nil
		}
		return nil, nil
	}
	if secret {
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, app.Errorf(app.EINVALID, "%s is mode %04o: others may read the key (chmod 600 %s)", file, st.Mode().Perm(), file).In(flag)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "%v", err).In(flag)
	}
	return b, nil
}

// sniffListener accepts from its listener and routes each connection by
// its first byte, read in a goroutine of the connection's own (a client
// that sends nothing must not hold up the next Accept): a TLS handshake
// becomes a *tls.Conn, so that the server runs the handshake itself,
// negotiates HTTP/2 by ALPN and sets Request.TLS; anything else stays the
// plain connection, its first byte replayed.
type sniffListener struct {
	net.Listener // the accepted: a *handConn, or a *net.TCPConn
	cfg          *tls.Config
	timeout      time.Duration // for the first byte, as for a request's header

	start  sync.Once
	out    chan net.Conn
	done   chan struct{} // closed when the accept loop and every sniff have ended
	err    error         // why the accept loop ended; read after done
	closed chan struct{}
	close  sync.Once
}

func newSniffListener(l net.Listener, cfg *tls.Config, timeout time.Duration) *sniffListener {
	return &sniffListener{Listener: l, cfg: cfg, timeout: timeout,
		out: make(chan net.Conn), done: make(chan struct{}), closed: make(chan struct{})}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.loop() })
	select {
	case c := <-l.out:
		return c, nil
	case <-l.done: // no sniff is left to send one
		return nil, l.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	l.close.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// loop accepts until its listener fails for good, as http.Server's own
// loop would: a temporary error (out of descriptors) is waited out.
func (l *sniffListener) loop() {
	var sniffs sync.WaitGroup
	defer func() {
		sniffs.Wait()
		close(l.done)
	}()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			l.err = err
			return
		}
		sniffs.Go(func() { l.sniff(c) })
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	first, err := readFirst(c, l.timeout)
	if err != nil {
		_ = c.Close() // kept open when a handover takes it
		if hc, ok := c.(*handConn); ok {
			hc.t.release(hc)
		}
		return
	}
	var out net.Conn = &replayConn{Conn: c, first: first}
	if first[0] == tlsRecordHandshake {
		if hc, ok := c.(*handConn); ok {
			hc.holdsTLS() // a TLS session cannot change processes
		}
		out = tls.Server(out, l.cfg)
	}
	select {
	case l.out <- out:
	case <-l.closed:
		_ = out.Close()
	}
}

// readFirst reads a connection's first byte, waiting at most timeout. A
// tracked connection between requests reads it through its handover
// logic: a handover that begins meanwhile takes the connection (EOF here).
func readFirst(c net.Conn, timeout time.Duration) ([]byte, error) {
	if hc, ok := c.(*handConn); ok {
		hc.readDeadlineUnlessHanding(time.Now().Add(timeout))
	} else {
		_ = c.SetReadDeadline(time.Now().Add(timeout))
	}
	b := make([]byte, 1)
	n, err := c.Read(b)
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
	_ = c.SetReadDeadline(time.Time{}) // read: this process serves the connection, no handover sets a deadline on it
	return b, nil
}

// replayConn returns first before what the connection reads next.
type replayConn struct {
	net.Conn
	first []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// NetConn is the accepted connection (the handover tracks that one).
func (c *replayConn) NetConn() net.Conn { return c.Conn }

// trackedConn is the *handConn under a server's connection (a *tls.Conn or
// a replayConn around it), or nil.
func trackedConn(nc net.Conn) *handConn {
	for nc != nil {
		if hc, ok := nc.(*handConn); ok {
			return hc
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = w.NetConn()
	}
	return nil
}

// serveHTTP2 has srv speak HTTP/2 on the TLS connections whose client asks
// for it, and returns goAway, which sends each of them GOAWAY: the client
// learns which of its requests the server took and sends any later one
// again, on a new connection. That is how a handover closes an HTTP/2
// connection without losing a request, which it cannot do for an idle
// HTTP/1.1 one (see tlsHandoverGrace). x/net's server rather than net/http's
// own: net/http sends GOAWAY only from Shutdown, which would also close
// the plain connections a handover passes on.
func serveHTTP2(srv *http.Server) (goAway func(), err error) {
	// gate serves nothing: its Shutdown is the GOAWAY of every connection
	// the HTTP/2 server it is configured with serves.
	gate := &http.Server{IdleTimeout: srv.IdleTimeout}
	if err := http2.ConfigureServer(gate, &http2.Server{}); err != nil {
		return nil, fmt.Errorf("http/2: %w", err)
	}
	serve := gate.TLSNextProto[http2.NextProtoTLS]
	srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		http2.NextProtoTLS: func(hs *http.Server, c *tls.Conn, h http.Handler) {
			if hc := trackedConn(c); hc != nil {
				hc.speaksHTTP2()
			}
			serve(hs, c, h)
		},
	}
	return func() { _ = gate.Shutdown(context.Background()) }, nil
}

type connKey struct{}

// withConn is the server's ConnContext: a request can find its connection
// (closeTLSAtHandover asks it whether a handover has begun).
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func requestTLS(r *http.Request) bool { return r.TLS != nil }

// redirectPlain sends plain-HTTP requests to the same URL over HTTPS (308:
// the method and body stay), and tells browsers to come back over HTTPS.
func redirectPlain(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requestTLS(r) {
			http.Redirect(w, r, fmt.Sprintf("https://%s%s", r.Host, r.URL.RequestURI()), http.StatusPermanentRedirect)
			return
		}
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}
