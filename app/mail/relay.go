// Package mail is the integrator mail role (crm mail, seed 002's ARMAIL):
// an SMTP relay, built on github.com/emersion/go-smtp, that the roles send
// their administrative notifications through (a scheduled job that no
// target took, say). It takes mail only from clients that authenticate
// as "crm" with the stack's service key (AUTH PLAIN), and delivers every
// message into a Maildir: on the local target the operator reads it in the
// mail host's directory. Seed 002 runs ARMAIL "1 per machine": the relay
// beside a role on its own machine forwards (Config.Forward) what the role
// sends to the cluster's relay, which delivers it, so the operators read
// one Maildir and every message's trace names the machine it left from.
// Nothing is relayed past the stack's own hosts.
//
// Its port answers HTTP too (/healthz, /readyz, /metrics), so the role is
// checked and scraped like every other: an SMTP client waits for the
// relay's greeting, an HTTP client speaks at once (serve.SplitServerFirst).
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/serve"
)

// User is the SMTP user the roles authenticate as, with the service key.
const User = "crm"

// greetWait is how long a new connection may stay silent before it is
// taken for an SMTP client and greeted: an HTTP client sends at once.
const greetWait = 300 * time.Millisecond

// Config is one relay.
type Config struct {
	Maildir  string // delivered mail goes to Maildir/new
	Password string // the service key: AUTH PLAIN as User with it
	Domain   string // the name the relay greets with; default "crm-mail"
	MaxBytes int64  // largest message; default 1 MiB (notifications are small)
	// Forward, when set, is the relay (host:port) every message is handed
	// on to, authenticated with Password too, instead of the Maildir. It
	// is handed on before the client is answered: a relay that refuses or
	// cannot be reached makes the client's DATA fail with 451, so the
	// sender knows its notification did not go, and no queue on this
	// machine can lose it.
	Forward string
	Log     *slog.Logger
}

// Relay is the SMTP server.
type Relay struct {
	cfg       Config
	seq       atomic.Int64
	delivered prometheus.Counter
	refused   prometheus.Counter
}

// NewRelay checks cfg and makes the Maildir's directories.
func NewRelay(cfg Config, reg prometheus.Registerer) (*Relay, error) {
	if len(cfg.Password) < 16 {
		return nil, app.Errorf(app.EINVALID, "the relay's password must be at least 16 characters, got %d", len(cfg.Password)).In("CRM_SERVICE_KEY")
	}
	if cfg.Domain == "" {
		cfg.Domain = "crm-mail"
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 1 << 20
	}
	for _, d := range []string{"tmp", "new", "cur"} {
		if cfg.Forward != "" {
			break // a relay that hands on keeps no mail
		}
		if err := os.MkdirAll(filepath.Join(cfg.Maildir, d), 0o700); err != nil {
			return nil, err
		}
	}
	r := &Relay{cfg: cfg,
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "crm_mail_delivered_total",
			Help: "Messages delivered into the Maildir, or handed on to the relay of --forward."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "crm_mail_auth_refused_total",
			Help: "SMTP authentications refused: a wrong user or key."}),
	}
	if reg != nil {
		reg.MustRegister(r.delivered, r.refused)
	}
	return r, nil
}

// Serve accepts on l until ctx ends: SMTP to the relay, HTTP to h.
func (r *Relay) Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	smtpConns := serve.NewHandoff(l.Addr())
	s := smtp.NewServer(r)
	s.Domain = r.cfg.Domain
	s.MaxMessageBytes = r.cfg.MaxBytes
	s.MaxRecipients = 50
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	// The key crosses the LAN in clear, as the other services' bearer
	// key does; the relay's port is open to the roles' hosts only.
	s.AllowInsecureAuth = true
	s.ErrorLog = slog.NewLogLogger(r.cfg.Log.Handler(), slog.LevelWarn)
	go func() { _ = s.Serve(smtpConns) }()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	return serve.SplitServerFirst(ctx, l, h, r.cfg.Log, greetWait, smtpConns.Hand)
}

// NewSession is go-smtp's Backend.
func (r *Relay) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{r: r, helo: c.Hostname(), remote: c.Conn().RemoteAddr().String()}, nil
}

type session struct {
	r            *Relay
	helo, remote string
	authed       bool
	from         string
	to           []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		userOK := subtle.ConstantTimeCompare([]byte(username), []byte(User)) == 1
		keyOK := subtle.ConstantTimeCompare([]byte(password), []byte(s.r.cfg.Password)) == 1
		if !userOK || !keyOK || identity != "" && identity != User {
			s.r.refused.Inc()
			s.r.cfg.Log.Warn("mail: authentication refused", "remote", s.remote, "user", username)
			return errors.New("authentication refused")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(body io.Reader) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	deliver := s.r.deliver
	if s.r.cfg.Forward != "" {
		deliver = s.r.forward
	}
	name, err := deliver(s, body)
	if err != nil {
		s.r.cfg.Log.Error("mail: delivery", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot deliver now, try again later"}
	}
	s.r.delivered.Inc()
	s.r.cfg.Log.Info("mail delivered", "from", s.from, "to", strings.Join(s.to, ","), "as", name)
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// deliver writes the message as Maildir prescribes: into tmp under a
// unique name, synced, then renamed into new, so a reader never sees half
// a message. The relay's trace headers go first.
func (r *Relay) deliver(s *session, body io.Reader) (string, error) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	host, _ := os.Hostname()
	now := time.Now()
	name := fmt.Sprintf("%d.M%dP%dQ%d_%s.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), r.seq.Add(1), hex.EncodeToString(rnd[:]), host)
	tmp := filepath.Join(r.cfg.Maildir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	trace := fmt.Sprintf("Return-Path: <%s>\r\nDelivered-To: %s\r\n%s", s.from, strings.Join(s.to, ", "), r.received(s, now))
	_, err = io.WriteString(f, trace)
	if err == nil {
		_, err = io.Copy(f, body)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(r.cfg.Maildir, "new", name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return name, nil
}

// received is the relay's Received trace header for a message of s.
func (r *Relay) received(s *session, now time.Time) string {
	return fmt.Sprintf("Received: from %s (%s) by %s (crm mail) with ESMTPA; %s\r\n",
		s.helo, s.remote, r.cfg.Domain, now.Format(time.RFC1123Z))
}

// forward hands the message, its Received header first, on to the relay
// of cfg.Forward, and returns the name it was handed on under.
func (r *Relay) forward(s *session, body io.Reader) (string, error) {
	msg, err := io.ReadAll(io.LimitReader(body, r.cfg.MaxBytes+1))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := Notifier{Addr: r.cfg.Forward, Password: r.cfg.Password, From: s.from, To: s.to, Hello: r.cfg.Domain}
	err = n.sendRaw(ctx, io.MultiReader(strings.NewReader(r.received(s, time.Now())), bytes.NewReader(msg)))
	return "forwarded to " + r.cfg.Forward, err
}
