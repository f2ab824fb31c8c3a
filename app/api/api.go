// Package api serves the CRM's REST API (/api/v1, JSON over HTTP) on top of
// app/store: one route table, cookie sessions and bearer tokens, role
// checks, strict request decoding and the error format of the contract.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/app/store"
)

// Config tunes the API.
type Config struct {
	SessionTTL time.Duration // default 12 h
	// SecureCookies marks cookies Secure, for a web tier behind TLS.
	SecureCookies bool
	// ReportMaxAge is how old a worker's pipeline snapshot may be to answer
	// an admin's pipeline report; 0 always computes it.
	ReportMaxAge time.Duration
	// Password are the argon2id costs of new passwords.
	Password secret.Params
	Log      *slog.Logger
	// Principals caches who holds a token (the cache tier); nil reads the
	// database on every request.
	Principals PrincipalCache
	// SignIn bounds password checks and throttles guessing.
	SignIn SignInLimits
}

// PrincipalCache remembers who holds a token so that most requests
// authenticate without a query on the primary. app/cache.Principals is the
// memcached one; its doc says how entries go stale.
type PrincipalCache interface {
	Get(via string, hash []byte) (*app.Principal, string, bool)
	Put(via string, hash []byte, ticket string, p *app.Principal)
	Forget(via string, hash []byte)
	ForgetAll()
}

// API holds the handlers.
type API struct {
	store *store.Store
	cfg   Config
	log   *slog.Logger
	// dummyHash is verified against when an e-mail is unknown, so that
	// response time does not tell which e-mails exist.
	dummyHash string
	signIns   *signInGuard
}

// New returns the API over s.
func New(s *store.Store, cfg Config) *API {
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Password == (secret.Params{}) {
		cfg.Password = secret.DefaultParams
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.SignIn.defaults(cfg.Password)
	dummy, _ := secret.HashPassword("not a password anyone has", cfg.Password)
	return &API{store: s, cfg: cfg, log: cfg.Log, dummyHash: dummy, signIns: newSignInGuard(cfg.SignIn)}
}

// Handler returns the route table. Everything the contract lists is here.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/session", a.signIn)
	mux.HandleFunc("GET /api/v1/session", a.auth(a.currentSession))
	mux.HandleFunc("DELETE /api/v1/session", a.auth(a.signOut))
	mux.HandleFunc("POST /api/v1/tokens", a.auth(a.createToken))
	mux.HandleFunc("GET /api/v1/tokens", a.auth(a.listTokens))
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", a.auth(a.revokeToken))

	mux.HandleFunc("GET /api/v1/users", a.auth(a.listUsers))
	mux.HandleFunc("POST /api/v1/users", a.auth(a.createUser))
	mux.HandleFunc("GET /api/v1/users/{id}", a.auth(a.getUser))
	mux.HandleFunc("PATCH /api/v1/users/{id}", a.auth(a.updateUser))

	for _, r := range app.Resources {
		h := records{api: a, r: r}
		mux.HandleFunc("GET /api/v1/"+r.Name, a.auth(h.list))
		mux.HandleFunc("POST /api/v1/"+r.Name, a.auth(h.create))
		mux.HandleFunc("GET /api/v1/"+r.Name+"/{id}", a.auth(h.get))
		mux.HandleFunc("PATCH /api/v1/"+r.Name+"/{id}", a.auth(h.update))
		mux.HandleFunc("DELETE /api/v1/"+r.Name+"/{id}", a.auth(h.delete))
	}

	mux.HandleFunc("POST /api/v1/leads/{id}/convert", a.auth(a.convertLead))
	mux.HandleFunc("GET /api/v1/opportunities/{id}/stages", a.auth(a.stageHistory))
	mux.HandleFunc("GET /api/v1/reports/pipeline", a.auth(a.pipelineReport))
	mux.HandleFunc("GET /api/v1/reports/activities", a.auth(a.activityReport))
	mux.HandleFunc("POST /api/v1/import/contacts", a.auth(a.importContacts))
	mux.HandleFunc("GET /api/v1/export/contacts", a.auth(a.exportContacts))

	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, a.log, app.Errorf(app.ENOTFOUND, "no such API endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Ready reports whether the database is reachable and migrated.
func (a *API) Ready(ctx context.Context) error { return a.store.Ready(ctx) }
