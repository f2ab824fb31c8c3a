package kv

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is the integrators' shared state in the store. Every key starts
// with KeyPrefix.
type Client struct{ rdb *redis.Client }

// KeyPrefix starts every key the integrators write.
const KeyPrefix = "crm:integration:"

const callsKey = KeyPrefix + "calls" // a hash: client -> calls forwarded

// Dial returns a client of the store at addr (host:port, the role's port)
// that authenticates with password. It connects on first use.
func Dial(addr, password string) *Client {
	// Short timeouts, no retries: the store holds shared state an
	// integrator can do without for a while, and a call waiting on it
	// would wait in front of the api tier.
	return &Client{rdb: redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})}
}

// Close closes the client's connections.
func (c *Client) Close() error { return c.rdb.Close() }

// Grant returns the client a token (by its hash) was verified for by any
// integrator of the cluster, or "" when none holds a grant for it.
func (c *Client) Grant(ctx context.Context, tokenHash string) (string, error) {
	v, err := c.rdb.Get(ctx, KeyPrefix+"grant:"+tokenHash).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// PutGrant records that a token (by its hash) belongs to client, for ttl:
// the other integrators trust it without asking the api tier again.
func (c *Client) PutGrant(ctx context.Context, tokenHash, client string, ttl time.Duration) error {
	return c.rdb.Set(ctx, KeyPrefix+"grant:"+tokenHash, client, ttl).Err()
}

// CountCall adds one call forwarded for client to the cluster's count.
func (c *Client) CountCall(ctx context.Context, client string) error {
	return c.rdb.HIncrBy(ctx, callsKey, client, 1).Err()
}

// Calls returns the calls the cluster forwarded, by client, since the
// store was created.
func (c *Client) Calls(ctx context.Context) (map[string]int64, error) {
	m, err := c.rdb.HGetAll(ctx, callsKey).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}
