package api

import (
	"context"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/secret"
)

// SignInLimits bound what sign-ins cost and how fast passwords can be
// guessed. A password check costs Password.Memory (19 MiB by default) for
// about 30 ms: without a bound, 200 concurrent wrong sign-ins took an api
// server to 6 GB.
type SignInLimits struct {
	// Hashing is how many password checks run at once. Default: one per
	// core (a check keeps one core busy, so more would only add memory),
	// fewer if HashMemory would not hold them. Go's collector lets freed
	// check memory pile up to about twice what is live: the process peaks
	// near 2 * Hashing * Password.Memory above its base.
	Hashing int
	// HashMemory is the memory concurrent password checks may take;
	// default 128 MiB.
	HashMemory int64
	// HashWait is how long a sign-in waits for a free check before a 503;
	// default 10 s.
	HashWait time.Duration
	// PerAddress is how many sign-ins one client address may have
	// outstanding or failed per Window before 429; default 10. IPv6
	// addresses count by /64.
	PerAddress int
	// PerAccount is the same per account, from all addresses together;
	// default 50. An address the account signed in from successfully in
	// the last day is not held back by it, so a flood against the account
	// does not lock its owner out of their usual place.
	PerAccount int
	// Window is how long failures count; default 15 min.
	Window time.Duration
	// Exempt e-mails skip both counts: only for a stack's load-test user,
	// and only by explicit setting (crm api --sign-in-exempt).
	Exempt []string
	// TrustedProxies are the peers (the web tier) whose X-Forwarded-For
	// names the client. From anyone else the header is ignored: a client
	// could otherwise pick a fresh address for every guess.
	TrustedProxies []netip.Prefix
}

func (l *SignInLimits) defaults(p secret.Params) {
	if l.HashMemory <= 0 {
		l.HashMemory = 128 << 20
	}
	if l.Hashing <= 0 {
		l.Hashing = runtime.GOMAXPROCS(0)
		if byMemory := int(l.HashMemory / (int64(max(p.Memory, 1)) << 10)); byMemory < l.Hashing {
			l.Hashing = max(byMemory, 1)
		}
	}
	if l.HashWait <= 0 {
		l.HashWait = 10 * time.Second
	}
	if l.PerAddress <= 0 {
		l.PerAddress = 10
	}
	if l.PerAccount <= 0 {
		l.PerAccount = 50
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
}

// knownFor is how long a successful sign-in makes its address known to the
// account.
const knownFor = 24 * time.Hour

// maxTracked bounds the throttle's memory: counts are a few dozen bytes.
const maxTracked = 100_000

// throttle counts sign-in attempts per key in fixed windows. An attempt is
// counted before its password check, so that concurrent guesses cannot
// slip past the limit together; a successful one is given back.
type throttle struct {
	mu     sync.Mutex
	counts map[string]*count
	now    func() time.Time
}

type count struct {
	n     int
	until time.Time
}

func newThrottle() *throttle {
	return &throttle{counts: map[string]*count{}, now: time.Now}
}

// take counts one attempt for key unless limit are counted already; then
// it returns how long until the window ends.
func (t *throttle) take(key string, limit int, window time.Duration) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	c := t.counts[key]
	if c == nil || !now.Before(c.until) {
		t.sweep(now)
		c = &count{until: now.Add(window)}
		t.counts[key] = c
	}
	if c.n >= limit {
		return c.until.Sub(now), false
	}
	c.n++
	return 0, true
}

// give returns an attempt that turned out to be a successful sign-in.
func (t *throttle) give(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.counts[key]; c != nil && c.n > 0 {
		c.n--
	}
}

// mark remembers key for d; marked reports whether it is.
func (t *throttle) mark(key string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(t.now())
	t.counts[key] = &count{until: t.now().Add(d)}
}

func (t *throttle) marked(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.counts[key]
	return c != nil && t.now().Before(c.until)
}

// sweep drops ended windows when the map is full; if it is still full,
// the oldest state goes: forgetting counts is better than running out of
// memory, and addresses are not free to come by.
func (t *throttle) sweep(now time.Time) {
	if len(t.counts) < maxTracked {
		return
	}
	for k, c := range t.counts {
		if !now.Before(c.until) {
			delete(t.counts, k)
		}
	}
	if len(t.counts) >= maxTracked {
		clear(t.counts)
	}
}

// signInGuard is the API's state for SignInLimits.
type signInGuard struct {
	limits SignInLimits
	slots  chan struct{}
	counts *throttle
}

func newSignInGuard(l SignInLimits) *signInGuard {
	return &signInGuard{limits: l, slots: make(chan struct{}, l.Hashing), counts: newThrottle()}
}

// admission is one sign-in's claim on the counts, given back on success.
type admission struct {
	g    *signInGuard
	keys []string
	addr string
}

// admit counts a sign-in for email (userID 0 if unknown) from r's client,
// or refuses it with ETOOMANY and the seconds to wait.
func (g *signInGuard) admit(r *http.Request, email string, userID int64) (*admission, time.Duration, error) {
	addr := g.clientKey(r)
	adm := &admission{g: g, addr: addr}
	for _, e := range g.limits.Exempt {
		if app.NormalizeEmail(e) == app.NormalizeEmail(email) {
			return adm, 0, nil
		}
	}
	if wait, ok := g.counts.take("addr:"+addr, g.limits.PerAddress, g.limits.Window); !ok {
		return nil, wait, app.Errorf(app.ETOOMANY, "too many sign-ins from your address; wait and try again")
	}
	adm.keys = append(adm.keys, "addr:"+addr)
	if userID != 0 && !g.counts.marked(knownKey(userID, addr)) {
		key := "user:" + strconv.FormatInt(userID, 10)
		if wait, ok := g.counts.take(key, g.limits.PerAccount, g.limits.Window); !ok {
			return nil, wait, app.Errorf(app.ETOOMANY, "too many failed sign-ins to this account; wait and try again")
		}
		adm.keys = append(adm.keys, key)
	}
	return adm, 0, nil
}

// succeeded gives the attempt back and makes the address known to the account.
func (a *admission) succeeded(userID int64) {
	for _, k := range a.keys {
		a.g.counts.give(k)
	}
	a.g.counts.mark(knownKey(userID, a.addr), knownFor)
}

func knownKey(userID int64, addr string) string {
	return "known:" + strconv.FormatInt(userID, 10) + ":" + addr
}

// hash runs f in one of the bounded password-check slots, or fails with
// EUNAVAILABLE after HashWait.
func (g *signInGuard) hash(ctx context.Context, f func()) error {
	ctx, cancel := context.WithTimeout(ctx, g.limits.HashWait)
	defer cancel()
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return app.Errorf(app.EUNAVAILABLE, "too many sign-ins at once; try again in a moment")
	}
	defer func() { <-g.slots }()
	f()
	return nil
}

// clientKey is the address sign-ins are counted by: the peer, or the last
// X-Forwarded-For entry when the peer is a trusted proxy (the web tier's
// balancer sets that header to the address it took the request from and
// drops what the client sent). IPv6 counts by /64, which one host gets.
func (g *signInGuard) clientKey(r *http.Request) string {
	client := peerAddr(r)
	if g.trusted(client) {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				client = a.Unmap()
			}
		}
	}
	if client.Is6() {
		p, _ := client.Prefix(64)
		return p.String()
	}
	return client.String()
}

func (g *signInGuard) trusted(a netip.Addr) bool {
	for _, p := range g.limits.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// setRetryAfter tells a throttled client when to come back, in whole seconds.
func setRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
}
