// Package integration is the ESB role (crm integration): the entry point
// of integration clients. It accepts only API tokens (never browser
// sessions), checks each token against the api tier once per TTL, counts
// calls per client, and forwards the calls over the api servers it
// balances. It talks to the api tier only over HTTP, like every client.
package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmplan/crmplan/app/web"
)

// State is what the integrators of a cluster share (seed 002's key-value
// store, kv.Client): the tokens one of them verified, so the others need
// not ask the api tier again, and the calls forwarded per client. It is
// best effort: a call never fails because the state is out of reach.
type State interface {
	// Grant returns the client of a verified token (by hash), "" if none.
	Grant(ctx context.Context, tokenHash string) (string, error)
	PutGrant(ctx context.Context, tokenHash, client string, ttl time.Duration) error
	CountCall(ctx context.Context, client string) error
}

// Gateway authenticates integration calls and forwards them to the api tier.
type Gateway struct {
	lb    *web.Balancer
	ttl   time.Duration
	now   func() time.Time
	state State // nil without a store

	mu       sync.Mutex
	verified map[string]grant // by sha256 of the token: the token itself is not kept

	calls    *prometheus.CounterVec
	denied   prometheus.Counter
	stateErr prometheus.Counter
}

type grant struct {
	client  string // the token owner's e-mail, the metrics label
	expires time.Time
}

// New returns a gateway over the api balancer. A verified token is trusted
// for ttl: a revoked token stops working within ttl.
func New(lb *web.Balancer, ttl time.Duration, reg prometheus.Registerer) *Gateway {
	g := &Gateway{lb: lb, ttl: ttl, now: time.Now, verified: map[string]grant{},
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_integration_calls_total",
			Help: "Integration calls forwarded to the api tier, by client and status class."}, []string{"client", "code"}),
		denied: prometheus.NewCounter(prometheus.CounterOpts{Name: "crm_integration_denied_total",
			Help: "Integration calls refused for a missing or invalid API token."}),
		stateErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "crm_integration_state_errors_total",
			Help: "Reads and writes of the cluster's shared state (the key-value store) that failed; the calls went on without it."}),
	}
	if reg != nil {
		reg.MustRegister(g.calls, g.denied, g.stateErr)
	}
	return g
}

// WithState shares the gateway's grants and call counts with the other
// integrators through s.
func (g *Gateway) WithState(s State) *Gateway {
	g.state = s
	return g
}

// stateTimeout bounds each use of the shared state on a call's path.
const stateTimeout = 300 * time.Millisecond

func (g *Gateway) stateFailed(err error) bool {
	if err != nil {
		g.stateErr.Inc()
		return true
	}
	return false
}

// Handler serves /api/v1/ for integration clients.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	// Sessions are the browser's way in; an integration client holds a token.
	mux.HandleFunc("/api/v1/session", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "integration clients use API tokens (Authorization: Bearer <token>), not sessions")
	})
	mux.HandleFunc("/api/v1/", g.forward)
	return mux
}

// Ready fails while no api server is in rotation.
func (g *Gateway) Ready(ctx context.Context) error { return g.lb.Ready(ctx) }

func (g *Gateway) forward(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		g.denied.Inc()
		writeError(w, http.StatusUnauthorized, "send an API token: Authorization: Bearer <token> (create one with POST /api/v1/tokens)")
		return
	}
	client, status := g.authenticate(r, token)
	if status != http.StatusOK {
		g.denied.Inc()
		writeError(w, status, "the API token was not accepted by the api tier")
		return
	}
	r.Header.Del("Cookie") // the token is the only credential that travels on
	r.Header.Set("X-Integration-Client", client)
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	g.lb.ServeHTTP(sw, r)
	g.calls.WithLabelValues(client, strconv.Itoa(sw.code/100)+"xx").Inc()
	if g.state != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), stateTimeout)
		g.stateFailed(g.state.CountCall(ctx, client))
		cancel()
	}
}

// authenticate returns the token's client, asking the api tier when the
// token is not verified yet, and the status: 200, 401, or the api's error.
func (g *Gateway) authenticate(r *http.Request, token string) (string, int) {
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	g.mu.Lock()
	gr, ok := g.verified[key]
	g.mu.Unlock()
	if ok && g.now().Before(gr.expires) {
		return gr.client, http.StatusOK
	}
	if client := g.sharedGrant(r.Context(), key); client != "" {
		return client, http.StatusOK
	}
	req := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/api/v1/session", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	g.lb.ServeHTTP(rec, req) // through the balancer: its health checks and retries apply
	if rec.Code != http.StatusOK {
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			return "", http.StatusUnauthorized
		}
		return "", http.StatusBadGateway
	}
	var body struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.User.Email == "" {
		return "", http.StatusBadGateway
	}
	g.remember(key, body.User.Email)
	if g.state != nil {
		ctx, cancel := context.WithTimeout(r.Context(), stateTimeout)
		g.stateFailed(g.state.PutGrant(ctx, key, body.User.Email, g.ttl))
		cancel()
	}
	return body.User.Email, http.StatusOK
}

// sharedGrant returns the client another integrator verified the token
// for, if the state holds it; the grant is then kept here too. The
// store's expiry bounds it as the local one does: a revoked token still
// stops working within the TTL.
func (g *Gateway) sharedGrant(ctx context.Context, key string) string {
	if g.state == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	client, err := g.state.Grant(ctx, key)
	if g.stateFailed(err) || client == "" {
		return ""
	}
	g.remember(key, client)
	return client
}

func (g *Gateway) remember(key, client string) {
	g.mu.Lock()
	g.verified[key] = grant{client: client, expires: g.now().Add(g.ttl)}
	g.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int)        { w.code = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
