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
	"sync/atomic"

	"github.com/urfave/cli/v2"

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
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
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

// sniffListener hands out connections that become TLS or stay plain by
// their first byte.
type sniffListener struct {
	net.Listener
	cfg *tls.Config
}

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, cfg: l.cfg}, nil
}

// sniffConn reads the connection's first byte on its first Read (in the
// server's goroutine for the connection, not in Accept, which a client
// that sends nothing would hold up) and from then on is a TLS server
// connection or the plain one.
type sniffConn struct {
	net.Conn // the accepted connection: a *handConn, or a *net.TCPConn
	cfg      *tls.Config

	once  sync.Once
	err   error
	tls   atomic.Pointer[tls.Conn]
	first []byte // a plain connection's first byte, not returned yet
}

func (c *sniffConn) sniff() {
	b := make([]byte, 1)
	if n, err := c.Conn.Read(b); n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		c.err = err
		return
	}
	if b[0] != tlsRecordHandshake {
		c.first = b
		return
	}
	if hc, ok := c.Conn.(*handConn); ok {
		hc.holdsTLS() // a TLS session cannot change processes
	}
	c.tls.Store(tls.Server(&replayConn{Conn: c.Conn, first: b}, c.cfg))
}

func (c *sniffConn) Read(p []byte) (int, error) {
	c.once.Do(c.sniff)
	if t := c.tls.Load(); t != nil {
		return t.Read(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(c.first) > 0 && len(p) > 0 {
		p[0], c.first = c.first[0], nil
		return 1, nil
	}
	return c.Conn.Read(p)
}

func (c *sniffConn) Write(p []byte) (int, error) {
	if t := c.tls.Load(); t != nil {
		return t.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *sniffConn) Close() error {
	if t := c.tls.Load(); t != nil {
		return t.Close()
	}
	return c.Conn.Close()
}

// NetConn is the accepted connection (the handover tracks that one).
func (c *sniffConn) NetConn() net.Conn { return c.Conn }

// isTLS reports whether the client spoke TLS; known once a request was read.
func (c *sniffConn) isTLS() bool { return c.tls.Load() != nil }

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

type connKey struct{}

// withConn is the server's ConnContext: a request can ask its connection
// whether it came over TLS (the server sets Request.TLS only for a
// *tls.Conn it accepted itself).
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func requestTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	c, ok := r.Context().Value(connKey{}).(*sniffConn)
	return ok && c.isTLS()
}

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
