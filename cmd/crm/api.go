package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/api"
	"github.com/crmplan/crmplan/app/cache"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/store"
)

func apiCommand() *cli.Command {
	return &cli.Command{
		Name:  "api",
		Usage: "serve the REST API (/api/v1) against PostgreSQL",
		Flags: append(databaseFlags(),
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8081", EnvVars: []string{"CRM_LISTEN"}, Usage: "address to listen on"},
			&cli.DurationFlag{Name: "session-ttl", Value: 12 * time.Hour, EnvVars: []string{"CRM_SESSION_TTL"}},
			&cli.BoolFlag{Name: "secure-cookies", EnvVars: []string{"CRM_SECURE_COOKIES"}, Usage: "mark cookies Secure (TLS in front)"},
			&cli.DurationFlag{Name: "report-max-age", Value: 10 * time.Minute, EnvVars: []string{"CRM_REPORT_MAX_AGE"}, Usage: "use the worker's pipeline snapshot if younger"},
			&cli.StringSliceFlag{Name: "cache", EnvVars: []string{"CRM_CACHE"}, Usage: "cache tier (crm cache / memcached) host:port, repeatable: who holds a session is read there before the database"},
			&cli.DurationFlag{Name: "cache-ttl", Value: time.Minute, EnvVars: []string{"CRM_CACHE_TTL"}, Usage: "how long a cached principal lives (user changes invalidate at once)"},
			&cli.IntFlag{Name: "sign-in-hashing", EnvVars: []string{"CRM_SIGN_IN_HASHING"}, Usage: "password checks at once (each takes 19 MiB); 0: one per core, at most 128 MiB"},
			&cli.IntFlag{Name: "sign-in-per-address", Value: 10, EnvVars: []string{"CRM_SIGN_IN_PER_ADDRESS"}, Usage: "failed sign-ins per client address per window before 429"},
			&cli.IntFlag{Name: "sign-in-per-account", Value: 50, EnvVars: []string{"CRM_SIGN_IN_PER_ACCOUNT"}, Usage: "failed sign-ins per account per window before 429 (not for addresses it signed in from lately)"},
			&cli.DurationFlag{Name: "sign-in-window", Value: 15 * time.Minute, EnvVars: []string{"CRM_SIGN_IN_WINDOW"}, Usage: "how long failed sign-ins count"},
			&cli.StringSliceFlag{Name: "sign-in-exempt", EnvVars: []string{"CRM_SIGN_IN_EXEMPT"}, Usage: "e-mail exempt from sign-in throttling, repeatable: only a stack's load-test user, on purpose"},
			&cli.StringSliceFlag{Name: "trusted-proxy", EnvVars: []string{"CRM_TRUSTED_PROXIES"}, Usage: "address or CIDR of the web tier, repeatable: only from these is X-Forwarded-For believed when counting sign-ins per client"},
			&cli.StringFlag{Name: "cache-key-file", EnvVars: []string{"CRM_CACHE_KEY_FILE"}, Usage: "file holding the stack's principal-cache key (at least 32 bytes, the same on every api server); " +
				"or put the key itself in $CRM_CACHE_KEY. Cached principals carry an HMAC under it, so that whoever reaches the cache port cannot forge one"},
		),
		Action: func(c *cli.Context) error {
			log, err := logger(c, "api")
			if err != nil {
				return err
			}
			s, err := openStore(c, log)
			if err != nil {
				return err
			}
			defer s.Close()
			m := metrics.New("api")
			proxies, err := trustedProxies(c.StringSlice("trusted-proxy"))
			if err != nil {
				return err
			}
			cfg := api.Config{SessionTTL: c.Duration("session-ttl"), SecureCookies: c.Bool("secure-cookies"),
				ReportMaxAge: c.Duration("report-max-age"), Log: log,
				SignIn: api.SignInLimits{Hashing: c.Int("sign-in-hashing"), PerAddress: c.Int("sign-in-per-address"), PerAccount: c.Int("sign-in-per-account"),
					Window: c.Duration("sign-in-window"), Exempt: c.StringSlice("sign-in-exempt"), TrustedProxies: proxies}}
			if servers := c.StringSlice("cache"); len(servers) > 0 {
				key, err := cacheKey(c.String("cache-key-file"))
				if err != nil {
					return err
				}
				p, err := cache.NewPrincipals(cache.PrincipalsConfig{Servers: servers, Key: key, TTL: c.Duration("cache-ttl"), Log: log, Registerer: m.Registry})
				if err != nil {
					return err
				}
				cfg.Principals = p
			}
			a := api.New(s, cfg)
			m.AddPools(s.Pools)
			m.AddSearchSteps(s.SearchSteps)
			defer resizesOnHangup(c, s, log)()
			return serve.Run(c.Context, serve.Config{Role: "api", Listen: c.String("listen"), Handler: a.Handler(), Ready: a.Ready, Metrics: m, Log: log})
		},
	}
}

// resizesOnHangup has s take a new pool size from --db-max-conns-file on
// every SIGHUP (resizeOnHangup), and returns what stops that; without the
// flag there is nothing to re-read, and SIGHUP keeps its default.
func resizesOnHangup(c *cli.Context, s *store.Store, log *slog.Logger) (stop func()) {
	f := c.String("db-max-conns-file")
	if f == "" {
		return func() {}
	}
	return resizeOnHangup(c.Context, s, f, log)
}

// resizeOnHangup re-reads the pool size from file on every SIGHUP and
// resizes the store's pools in place: when a db-client tier (api, worker,
// etl) scales, the sizing gives every server of it a new share of the
// tier's connections, and the servers that stay must not restart for it.
func resizeOnHangup(ctx context.Context, s *store.Store, file string, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			n, err := readMaxConns(file)
			if err == nil {
				err = s.SetMaxConns(ctx, n)
			}
			if err != nil {
				log.Error("pool size not changed", "file", file, "err", err)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// cacheKey reads the principal-cache key from file, else from
// $CRM_CACHE_KEY: never from a flag's value, which ps shows to everyone.
func cacheKey(file string) ([]byte, error) {
	key := []byte(os.Getenv("CRM_CACHE_KEY"))
	where := "$CRM_CACHE_KEY"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, app.Errorf(app.EINVALID, "reading the cache key: %w", err).In("--cache-key-file")
		}
		key, where = bytes.TrimSpace(b), "--cache-key-file"
	}
	if len(key) < cache.MinKeyLen {
		return nil, app.Errorf(app.EINVALID, "--cache needs the stack's principal-cache key of at least %d bytes, got %d; "+
			"Try: head -c 32 /dev/urandom | base64 > cache.key, then --cache-key-file cache.key on every api server", cache.MinKeyLen, len(key)).In(where)
	}
	return key, nil
}

// trustedProxies parses --trusted-proxy values: addresses or CIDRs.
func trustedProxies(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		for _, v := range strings.Split(v, ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			if a, err := netip.ParseAddr(v); err == nil {
				out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, app.Errorf(app.EINVALID, "must be an address or CIDR like 10.0.1.5 or 10.0.1.0/24, got %.80q", v).In("--trusted-proxy")
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}
