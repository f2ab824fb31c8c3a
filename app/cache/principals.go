package cache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmplan/crmplan/app"
)

// Principals is the api servers' use of the cache tier: who holds a
// session or API token. Without it every request costs a query on the
// primary before any work is done; seed 001 puts memcached in front of
// the database for exactly this kind of hot, small, shared read.
//
// Staleness. A cached principal carries the users generation it was read
// under (one memcached key, shared by every api server). Creating or
// changing any user sets a new generation, so a role change, a new team
// member or a deactivation is seen by the next request on every server;
// users change rarely, so forgetting them all at once costs little. A
// sign-out forgets its own entry. Sessions expire in the database; an
// entry lives TTL at most, so a session is honoured at most TTL past its
// expiry.
//
// The cache is an optimisation only: when memcached is slow or down,
// lookups miss (after Timeout) and requests go to the database.
//
// Trust. memcached authenticates nobody, so whoever reaches the cache
// tier can write entries. Every entry carries an HMAC-SHA256 under the
// stack's key (Key), over its memcached key and its content, and its
// expiry: a forged entry, or one copied under another token's key, is a
// miss. What someone with the cache port but not the key can still do is
// replay an old generation number, which serves entries at most TTL old:
// no principal the database did not grant within the TTL.
type Principals struct {
	mc  *memcache.Client
	ttl time.Duration
	key []byte
	log *slog.Logger

	hits, misses, errs prometheus.Counter
}

// PrincipalsConfig configures the client.
type PrincipalsConfig struct {
	Servers []string      // host:port of the cache tier's hosts
	TTL     time.Duration // how long an entry lives; default 60 s
	Timeout time.Duration // per memcached call; default 100 ms
	// Key authenticates entries: the same secret on every api server of a
	// stack, at least MinKeyLen bytes. Required.
	Key []byte
	Log *slog.Logger
	// Registerer gets crm_cache_principal_lookups_total{result}.
	Registerer prometheus.Registerer
}

// genKey holds the users generation.
const genKey = "crm:users:gen"

// NewPrincipals returns a client of the cache tier's servers.
func NewPrincipals(cfg PrincipalsConfig) (*Principals, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("no cache servers")
	}
	if len(cfg.Key) < MinKeyLen {
		return nil, fmt.Errorf("the principal cache needs a key of at least %d bytes shared by the api servers, got %d", MinKeyLen, len(cfg.Key))
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	mc := memcache.New(cfg.Servers...)
	mc.Timeout = cfg.Timeout
	mc.MaxIdleConns = 32 // one per concurrent request, roughly: the default 2 would redial under load
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_cache_principal_lookups_total",
		Help: "Principal lookups in the cache tier by result: hit, miss (went to the database), error (cache unreachable).",
	}, []string{"result"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(lookups); err != nil {
			return nil, err
		}
	}
	return &Principals{mc: mc, ttl: cfg.TTL, key: cfg.Key, log: cfg.Log,
		hits: lookups.WithLabelValues("hit"), misses: lookups.WithLabelValues("miss"), errs: lookups.WithLabelValues("error")}, nil
}

// Ticket is the generation a miss saw. Put stores a principal under it,
// so that a principal read from the database while a user changed is
// never served after the change. An alias, so that the api package can
// name the cache's methods without importing this one.
type Ticket = string

// MinKeyLen is the shortest Key: 256 bits.
const MinKeyLen = 32

type entry struct {
	Gen Ticket        `json:"gen"`
	Exp int64         `json:"exp"` // unix seconds; memcached's own expiry can be moved by anyone
	P   app.Principal `json:"p"`
}

// seal returns the memcached value of e under key: its MAC, then its JSON.
func (c *Principals) seal(key string, e entry) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return append(c.mac(key, data), data...), nil
}

// open returns the entry of a value seal made for key, or false.
func (c *Principals) open(key string, value []byte) (entry, bool) {
	var e entry
	if len(value) < sha256.Size {
		return e, false
	}
	sum, data := value[:sha256.Size], value[sha256.Size:]
	if !hmac.Equal(sum, c.mac(key, data)) || json.Unmarshal(data, &e) != nil || time.Now().Unix() > e.Exp {
		return e, false
	}
	return e, true
}

func (c *Principals) mac(key string, data []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

func principalKey(via string, hash []byte) string {
	return "crm:principal:" + via + ":" + hex.EncodeToString(hash)
}

// Get returns the principal cached for a token hash (via is "session" or
// "token"), or the ticket to Put it under after reading the database.
func (c *Principals) Get(via string, hash []byte) (*app.Principal, Ticket, bool) {
	key := principalKey(via, hash)
	items, err := c.mc.GetMulti([]string{key, genKey})
	if err != nil {
		c.errs.Inc()
		c.log.Warn("cache unavailable, reading principals from the database", "err", err)
		return nil, "", false
	}
	gen, ok := items[genKey]
	if !ok {
		// First use, or memcached evicted or restarted: start a generation.
		// Add, not Set: another server may have started one already.
		ticket := newTicket()
		if err := c.mc.Add(&memcache.Item{Key: genKey, Value: []byte(ticket)}); err == nil {
			c.misses.Inc()
			return nil, ticket, false
		}
		if g, err := c.mc.Get(genKey); err == nil {
			c.misses.Inc()
			return nil, string(g.Value), false
		}
		c.errs.Inc()
		return nil, "", false
	}
	ticket := string(gen.Value)
	if it, ok := items[key]; ok {
		if e, ok := c.open(key, it.Value); ok && e.Gen == ticket {
			c.hits.Inc()
			return &e.P, ticket, true
		}
	}
	c.misses.Inc()
	return nil, ticket, false
}

// Put caches p for a token hash under the ticket its Get returned. An
// empty ticket (the cache was unreachable) caches nothing.
func (c *Principals) Put(via string, hash []byte, ticket Ticket, p *app.Principal) {
	if ticket == "" || p == nil {
		return
	}
	key := principalKey(via, hash)
	data, err := c.seal(key, entry{Gen: ticket, Exp: time.Now().Add(c.ttl).Unix(), P: *p})
	if err != nil {
		return
	}
	if err := c.mc.Set(&memcache.Item{Key: key, Value: data, Expiration: int32(c.ttl / time.Second)}); err != nil {
		c.log.Warn("cache put", "err", err)
	}
}

// Forget drops the entry of one token (a sign-out).
func (c *Principals) Forget(via string, hash []byte) {
	if err := c.mc.Delete(principalKey(via, hash)); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		c.log.Warn("cache forget", "err", err)
	}
}

// ForgetAll starts a new users generation: every cached principal is stale.
// Call it after creating or changing a user.
func (c *Principals) ForgetAll() {
	if err := c.mc.Set(&memcache.Item{Key: genKey, Value: []byte(newTicket())}); err != nil {
		// The entries stay valid until they expire: say so loudly.
		c.log.Error("cache: could not invalidate principals after a user change; they expire within the TTL", "err", err, "ttl", c.ttl)
	}
}

func newTicket() Ticket {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
