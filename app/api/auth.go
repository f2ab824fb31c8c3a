package api

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/app/store"
)

const (
	sessionCookie = "crm_session"
	// lsnCookie carries the WAL position of the client's last write, so
	// that any api server behind the load balancer reads it back.
	lsnCookie = "crm_lsn"
)

type authedHandler func(w http.ResponseWriter, r *http.Request, p *app.Principal)

// auth resolves the principal from a bearer token or the session cookie,
// guards cookie-authenticated writes against cross-site requests, and
// carries read-your-writes positions in and out.
func (a *API) auth(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.principal(r)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		if p.Via == "session" && unsafeMethod(r.Method) && !nonSimpleContent(r) {
			// A cross-site form can only send simple content types; JSON and
			// CSV bodies need a CORS preflight, which this server never grants.
			writeError(w, r, a.log, app.Errorf(app.EFORBIDDEN, "send writes with Content-Type application/json (or text/csv for imports)"))
			return
		}
		ctx := r.Context()
		if c, err := r.Cookie(lsnCookie); err == nil {
			if lsn, err := strconv.ParseUint(c.Value, 10, 64); err == nil {
				ctx = store.AfterLSN(ctx, lsn)
			}
		}
		if unsafeMethod(r.Method) {
			ctx = store.LSNRecorder(ctx)
			w = &lsnWriter{ResponseWriter: w, ctx: ctx, secure: a.cfg.SecureCookies}
		}
		h(w, r.WithContext(ctx), p)
	}
}

func (a *API) principal(r *http.Request) (*app.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			return nil, app.Errorf(app.EUNAUTHORIZED, "Authorization must be \"Bearer <token>\"")
		}
		return a.cachedPrincipal(r.Context(), "token", token, a.store.TokenPrincipal)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, app.Errorf(app.EUNAUTHORIZED, "sign in first: POST /api/v1/session")
	}
	return a.cachedPrincipal(r.Context(), "session", c.Value, a.store.SessionPrincipal)
}

// cachedPrincipal asks the cache tier first and the database on a miss.
// Only found principals are cached: a bad token always costs a query.
func (a *API) cachedPrincipal(ctx context.Context, via, token string, lookup func(context.Context, string) (*app.Principal, error)) (*app.Principal, error) {
	if a.cfg.Principals == nil {
		return lookup(ctx, token)
	}
	hash := secret.HashToken(token)
	p, ticket, ok := a.cfg.Principals.Get(via, hash)
	if ok {
		return p, nil
	}
	p, err := lookup(ctx, token)
	if err != nil {
		return nil, err
	}
	a.cfg.Principals.Put(via, hash, ticket, p)
	return p, nil
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func nonSimpleContent(r *http.Request) bool {
	if r.Method == http.MethodDelete && r.ContentLength <= 0 {
		return true // DELETE itself needs a preflight cross-site
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json" || mt == "text/csv"
}

// lsnWriter sets the read-your-writes cookie before a successful write's
// response goes out.
type lsnWriter struct {
	http.ResponseWriter
	ctx    context.Context
	secure bool
	done   bool
}

func (w *lsnWriter) WriteHeader(code int) {
	if !w.done {
		w.done = true
		if lsn := store.WroteLSN(w.ctx); lsn > 0 && code < 300 {
			http.SetCookie(w.ResponseWriter, &http.Cookie{Name: lsnCookie, Value: strconv.FormatUint(lsn, 10), Path: "/api/",
				MaxAge: 300, HttpOnly: true, Secure: w.secure, SameSite: http.SameSiteLaxMode})
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *lsnWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *lsnWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a *API) signIn(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, 4096, "application/json")
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	var req signInRequest
	if err := decodeStrict(b, &req); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if req.Email == "" || req.Password == "" {
		writeError(w, r, a.log, app.Errorf(app.EINVALID, "email and password are required"))
		return
	}
	u, err := a.store.UserByEmail(r.Context(), req.Email)
	if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
		writeError(w, r, a.log, err)
		return
	}
	hash := u.PasswordHash
	if err != nil {
		hash = a.dummyHash
	}
	adm, wait, aerr := a.signIns.admit(r, req.Email, u.ID)
	if aerr != nil {
		a.log.Warn("sign-in throttled", "email", app.NormalizeEmail(req.Email), "client", a.signIns.clientKey(r))
		setRetryAfter(w, wait)
		writeError(w, r, a.log, aerr)
		return
	}
	var match bool
	if herr := a.signIns.hash(r.Context(), func() { match = secret.VerifyPassword(req.Password, hash) }); herr != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, r, a.log, herr)
		return
	}
	if !match || err != nil {
		a.log.Info("sign-in refused", "email", app.NormalizeEmail(req.Email))
		writeError(w, r, a.log, app.Errorf(app.EUNAUTHORIZED, "e-mail or password is wrong"))
		return
	}
	adm.succeeded(u.ID)
	token, err := a.store.CreateSession(r.Context(), u.ID, a.cfg.SessionTTL)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", MaxAge: int(a.cfg.SessionTTL.Seconds()),
		HttpOnly: true, Secure: a.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	a.log.Info("signed in", "user_id", u.ID)
	writeJSON(w, http.StatusOK, map[string]any{"user": u})
}

func (a *API) currentSession(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	writeJSON(w, http.StatusOK, map[string]any{"user": p.User})
}

func (a *API) signOut(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	if c, err := r.Cookie(sessionCookie); err == nil && p.Via == "session" {
		if err := a.store.DeleteSession(r.Context(), c.Value); err != nil {
			writeError(w, r, a.log, err)
			return
		}
		if a.cfg.Principals != nil {
			a.cfg.Principals.Forget("session", secret.HashToken(c.Value))
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

type tokenRequest struct {
	Name string `json:"name"`
	// ExpiresIn is the token's life in seconds: default DefaultTokenTTL,
	// at most MaxTokenTTL.
	ExpiresIn *int64 `json:"expires_in"`
}

// API tokens end: a leaked one is not good forever, and a script's token
// (crmplan verify's) lives about as long as its run.
const (
	DefaultTokenTTL = 30 * 24 * time.Hour
	MaxTokenTTL     = 90 * 24 * time.Hour
)

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	b, err := readBody(w, r, 4096, "application/json")
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	req := tokenRequest{Name: "api token"}
	if len(b) > 0 {
		if err := decodeStrict(b, &req); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	if err := app.CheckText(req.Name, 100); err != nil || strings.TrimSpace(req.Name) == "" {
		writeError(w, r, a.log, app.Errorf(app.EINVALID, "must be 1 to 100 printable characters").In("name"))
		return
	}
	ttl := DefaultTokenTTL
	if req.ExpiresIn != nil {
		if *req.ExpiresIn < 60 || *req.ExpiresIn > int64(MaxTokenTTL/time.Second) {
			writeError(w, r, a.log, app.Errorf(app.EINVALID, "must be seconds from 60 to %d (90 days)", int64(MaxTokenTTL/time.Second)).In("expires_in"))
			return
		}
		ttl = time.Duration(*req.ExpiresIn) * time.Second
	}
	t, token, err := a.store.CreateToken(r.Context(), p.User.ID, req.Name, ttl)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "token": token, "created_at": t.CreatedAt, "expires_at": t.ExpiresAt})
}

// listTokens lists the caller's unexpired tokens, without their secrets.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	tokens, err := a.store.Tokens(r.Context(), p.User.ID)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": tokens, "next": ""})
}

// revokeToken deletes one of the caller's tokens (an admin: anyone's), at
// once on every api server: the cache forgets it too.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	hash, err := a.store.RevokeToken(r.Context(), p, id)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if a.cfg.Principals != nil {
		a.cfg.Principals.Forget("token", hash)
	}
	w.WriteHeader(http.StatusNoContent)
}
