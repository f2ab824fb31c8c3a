package watchdog

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/agent"
)

// The lease protocol between the watchdog (on the replica's host) and the
// guard (on the primary's host), for stacks whose database hosts share no
// filesystem (the ssh target); why a lease, in doc.go. One TCP connection
// per message, lines of text:
//
//	guard:    crmplan-lease 1 NONCE
//	watchdog: VERB MAC             VERB renew|fence|release
//	guard:    WORD MAC             WORD granted|fenced|restarting|released
//	  or:     refused REASON       (unsigned: it holds nothing of the secret)
//
// A MAC is HMAC-SHA256 under the stack's lease secret of the word, the
// stack and the guard's fresh NONCE: a message recorded once cannot be
// replayed, and a reply cannot be forged by whoever sits on the address.
const (
	leaseHello = "crmplan-lease 1"

	VerbRenew   = "renew"   // extend the lease by Lease from when the guard sent its nonce
	VerbFence   = "fence"   // fence the primary now (it does not answer the watchdog)
	VerbRelease = "release" // the watchdog stops on purpose: disarm, fence nobody

	ReplyGranted    = "granted"
	ReplyFenced     = "fenced"     // the primary is fenced (now or before): promote
	ReplyRestarting = "restarting" // apply restarts the primary on purpose: not lost
	ReplyReleased   = "released"
)

// DefaultLease is how long a guard keeps its primary after the last
// renewal: twenty of the watchdog's probe intervals, so that a loaded
// machine delaying a few renewals does not fence a healthy primary.
const DefaultLease = 10 * time.Second

// leaseTimeout bounds one message's round trip.
const leaseTimeout = 2 * time.Second

// LeaseSecret checks a lease secret: the stack's random token (apply
// makes it once per stack, as its passwords), written on the watchdog's and
// the guard's hosts only.
func LeaseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) < 24 {
		return nil, fmt.Errorf("lease secret: want at least 24 characters, got %d", len(s))
	}
	return []byte(s), nil
}

// ReadLeaseSecret reads a lease secret file.
func ReadLeaseSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := LeaseSecret(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func leaseMAC(secret []byte, word, stack, nonce string) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s|%s|%s", word, stack, nonce)
	return hex.EncodeToString(m.Sum(nil))
}

func validMAC(secret []byte, word, stack, nonce, mac string) bool {
	want := leaseMAC(secret, word, stack, nonce)
	return hmac.Equal([]byte(want), []byte(mac))
}

// ErrRefused is a guard's refusal of a message (a wrong secret, an
// unknown verb), as SendLease returns it.
var ErrRefused = errors.New("refused by the guard")

// SendLease sends one signed verb to the guard at addr and returns its
// verified reply word.
func SendLease(ctx context.Context, addr, stack string, secret []byte, verb string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, leaseTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	r := bufio.NewReader(conn)
	hello, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("guard %s: %w", addr, err)
	}
	nonce, ok := strings.CutPrefix(strings.TrimSpace(hello), leaseHello+" ")
	if !ok || nonce == "" {
		return "", fmt.Errorf("guard %s: not a lease guard (said %q)", addr, strings.TrimSpace(hello))
	}
	if _, err := fmt.Fprintf(conn, "%s %s\n", verb, leaseMAC(secret, verb, stack, nonce)); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("guard %s: %w", addr, err)
	}
	word, mac, _ := strings.Cut(strings.TrimSpace(line), " ")
	if word == "refused" {
		return "", fmt.Errorf("guard %s: %w: %s", addr, ErrRefused, mac)
	}
	if !validMAC(secret, "reply:"+word, stack, nonce, mac) {
		return "", fmt.Errorf("guard %s: reply %q is not signed with the stack's lease secret", addr, word)
	}
	return word, nil
}

// Guard holds the primary's side of the lease on the primary's host. It
// is disarmed until the first renewal (a watchdog that is not running yet
// must not fence anything), and once armed it fences the host's server
// (Fence's mark, then its supervisor and postgres stopped) when Lease
// passes without a renewal, or at once when the watchdog asks. Once
// fenced it stays fenced: only a rebuild by apply brings the server back.
type Guard struct {
	HostDir string // the primary's host directory (HOSTDIR/pg)
	Stack   string
	Secret  []byte
	Lease   time.Duration
	Log     io.Writer

	mu      sync.Mutex
	expires time.Time // zero: disarmed
	fenced  bool
}

// Serve answers the watchdog on ln and fences on expiry until ctx ends.
func (g *Guard) Serve(ctx context.Context, ln net.Listener) error {
	if g.Lease <= 0 {
		g.Lease = DefaultLease
	}
	if len(g.Secret) == 0 {
		return errors.New("guard: no lease secret")
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go g.expire(ctx)
	fmt.Fprintf(g.Log, "guard: %s holds a lease of %s for stack %s, disarmed until the watchdog renews it\n", ln.Addr(), g.Lease, g.Stack)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go g.answer(ctx, conn)
	}
}

// expire fences the primary once an armed lease runs out.
func (g *Guard) expire(ctx context.Context) {
	tick := time.NewTicker(g.Lease / 20)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		g.mu.Lock()
		due := !g.fenced && !g.expires.IsZero() && time.Now().After(g.expires)
		g.mu.Unlock()
		if due {
			fmt.Fprintf(g.Log, "guard: lease expired (no renewal for %s): fencing the primary\n", g.Lease)
			if _, err := g.fence(ctx, false); err != nil {
				fmt.Fprintf(g.Log, "guard: fence: %v\n", err)
			}
		}
	}
}

func (g *Guard) answer(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(leaseTimeout))
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	sent := time.Now() // the lease runs from here: before the watchdog can count it
	if _, err := fmt.Fprintf(conn, "%s %s\n", leaseHello, nonce); err != nil {
		return
	}
	line, err := bufio.NewReader(io.LimitReader(conn, 256)).ReadString('\n')
	if err != nil {
		return
	}
	verb, mac, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch {
	case verb != VerbRenew && verb != VerbFence && verb != VerbRelease:
		fmt.Fprintf(conn, "refused unknown verb\n")
		return
	case !validMAC(g.Secret, verb, g.Stack, nonce, mac):
		fmt.Fprintf(g.Log, "guard: refused %s from %s: not signed with the stack's lease secret\n", verb, conn.RemoteAddr())
		fmt.Fprintf(conn, "refused not signed with the stack's lease secret\n")
		return
	}
	word, err := g.do(ctx, verb, sent)
	if err != nil {
		fmt.Fprintf(g.Log, "guard: %s: %v\n", verb, err)
		fmt.Fprintf(conn, "refused %s failed\n", verb)
		return
	}
	fmt.Fprintf(conn, "%s %s\n", word, leaseMAC(g.Secret, "reply:"+word, g.Stack, nonce))
}

func (g *Guard) do(ctx context.Context, verb string, sent time.Time) (string, error) {
	g.mu.Lock()
	fenced := g.fenced
	switch {
	case fenced:
	case verb == VerbRenew:
		if g.expires.IsZero() {
			fmt.Fprintf(g.Log, "guard: armed by the watchdog's first renewal\n")
		}
		g.expires = sent.Add(g.Lease)
		g.mu.Unlock()
		return ReplyGranted, nil
	case verb == VerbRelease:
		g.expires = time.Time{}
		g.mu.Unlock()
		fmt.Fprintf(g.Log, "guard: released by the watchdog: disarmed\n")
		return ReplyReleased, nil
	}
	g.mu.Unlock()
	if fenced {
		return ReplyFenced, nil
	}
	return g.fence(ctx, true)
}

// fence fences the host's server. Asked by the watchdog (asked), a
// server apply is restarting on purpose is not fenced; an expired lease
// fences it whatever it does, as the watchdog will promote.
func (g *Guard) fence(ctx context.Context, asked bool) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fenced {
		return ReplyFenced, nil
	}
	if asked && restarting(g.HostDir) {
		return ReplyRestarting, nil
	}
	srv, err := pgserver.Open(agent.PostgresDir(g.HostDir))
	if err != nil {
		// A lost data directory cannot start at all.
		fmt.Fprintf(g.Log, "guard: fence: no mark: %v\n", err)
	} else if err := srv.Fence(); err != nil {
		fmt.Fprintf(g.Log, "guard: fence: no mark: %v\n", err)
	}
	if err := agent.PostgresProcess(g.HostDir).Stop(); err != nil {
		return "", fmt.Errorf("stop the primary's supervisor: %w", err)
	}
	if srv != nil {
		// A server its supervisor left behind (or none ran) is stopped
		// here: the watchdog promotes once this answers.
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := srv.Stop(sctx)
		cancel()
		if _, alive := srv.PID(); alive {
			return "", fmt.Errorf("the primary still runs after it was stopped: %v", err)
		}
	}
	g.fenced = true
	fmt.Fprintf(g.Log, "guard: primary fenced\n")
	return ReplyFenced, nil
}
