// Package stackkey is the per-stack secret that the internal services
// (docstore, queue) require of every caller, and that their callers (the
// scheduler, peer brokers) present: a bearer key, compared in constant
// time. Without it anyone who reaches a LAN port could read and delete
// documents or publish to any topic (finding 8).
package stackkey

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"os"
	"strings"

	"github.com/crmplan/crmplan/app"
)

// MinLen is the shortest key accepted: a key is a password nobody types.
const MinLen = 16

// Env is the environment variable a deployment gives the key in.
const Env = "CRM_SERVICE_KEY"

// Key is a stack's service key. The zero Key refuses every caller.
type Key struct {
	secret []byte
}

// Load reads the key from file, else from the environment variable Env:
// never from an argument, which every local user reads in ps. A file
// others may read is refused, as ssh refuses such a private key.
func Load(file string) (Key, error) {
	if file == "" {
		return Parse(os.Getenv(Env), Env)
	}
	st, err := os.Stat(file)
	if err != nil {
		return Key{}, app.Errorf(app.EINVALID, "%v", err).In("--service-key-file")
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Key{}, app.Errorf(app.EINVALID, "%s is mode %04o: others may read the key (chmod 600 %s)", file, st.Mode().Perm(), file).In("--service-key-file")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return Key{}, app.Errorf(app.EINVALID, "%v", err).In("--service-key-file")
	}
	return Parse(strings.TrimSpace(string(b)), "--service-key-file")
}

// Parse checks a key given as text; where names its source for errors.
func Parse(s, where string) (Key, error) {
	if len(s) < MinLen {
		return Key{}, app.Errorf(app.EINVALID, "the service key must be at least %d characters, got %d (give a file with --service-key-file, or set %s)",
			MinLen, len(s), Env).In(where)
	}
	return Key{secret: []byte(s)}, nil
}

// Require serves next only to requests whose Authorization header is
// "Bearer KEY"; any other gets 401 and no hint of the key.
func (k Key) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.valid(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crm"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "this service takes only callers holding the stack's service key"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (k Key) valid(header string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	return ok && len(k.secret) > 0 && subtle.ConstantTimeCompare([]byte(got), k.secret) == 1
}

// Transport presents the key on every request through base
// (http.DefaultTransport when nil).
func (k Key) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{key: k, base: base}
}

type roundTripper struct {
	key  Key
	base http.RoundTripper
}

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(t.key.secret))
	return t.base.RoundTrip(r)
}

// Password is the key as the password of a service that checks it itself:
// Redis's AUTH (crm kv and its clients, the integrators).
func (k Key) Password() string { return string(k.secret) }
