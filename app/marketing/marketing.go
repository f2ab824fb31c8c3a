// Package marketing is seed 000's marketing application server (crm
// marketing): campaigns and their recipients, kept in the marketing
// database (its own PostgreSQL, apart from the CRM's), with the recipients
// drawn from the CRM's contacts.
//
// It holds no users of its own. Every call carries a CRM API token, which
// the CRM checks (GET /api/v1/session), and the recipients are read from
// the CRM's contacts API with that same token: a campaign reaches only the
// contacts its owner may see in the CRM, and a campaign belongs to the CRM
// user who made it.
package marketing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
)

// Config is what a Server needs.
type Config struct {
	DB *pgxpool.Pool // the marketing database
	// CRM is the base URL of the CRM's API (an api server, or the web
	// tier that balances them), like http://10.0.2.10:8081.
	CRM string
	// Fallback are more base URLs of the CRM's API (the other api
	// servers), tried in turn when one does not answer: an api server
	// refuses connections while it restarts in a rolling deploy, and a
	// campaign should not fail for it. Only reads go there, so a retry
	// is safe.
	Fallback []string
	Client   *http.Client // nil: one with a 10 s timeout
	// MaxRecipients caps a campaign; 0: DefaultMaxRecipients.
	MaxRecipients int
	Log           *slog.Logger
}

// DefaultMaxRecipients caps the contacts a campaign takes from the CRM.
const DefaultMaxRecipients = 1000

// Server serves the marketing API.
type Server struct {
	cfg Config
}

// New returns a Server; Migrate must have run on cfg.DB.
func New(cfg Config) *Server {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.CRM = strings.TrimRight(cfg.CRM, "/")
	fallback := make([]string, len(cfg.Fallback))
	for i, u := range cfg.Fallback {
		fallback[i] = strings.TrimRight(u, "/")
	}
	cfg.Fallback = fallback
	return &Server{cfg: cfg}
}

// schema is the marketing database's: small enough to be created by the
// server itself, under an advisory lock so that servers starting together
// do not race.
const schema = `
SELECT pg_advisory_xact_lock(7270001);
CREATE TABLE IF NOT EXISTS campaigns (
	id         bigserial PRIMARY KEY,
	owner_id   bigint NOT NULL,
	name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	query      text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS campaigns_owner ON campaigns (owner_id, id);
CREATE TABLE IF NOT EXISTS recipients (
	campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
	contact_id  bigint NOT NULL,
	email       text NOT NULL,
	name        text NOT NULL,
	PRIMARY KEY (campaign_id, contact_id)
);`

// Migrate creates the marketing schema if it is missing.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return app.Errorf(app.EUNAVAILABLE, "marketing database: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, schema); err != nil {
		return fmt.Errorf("marketing schema: %w", err)
	}
	return tx.Commit(ctx)
}

// Ready fails unless the marketing database answers with its schema.
func (s *Server) Ready(ctx context.Context) error {
	var n int
	if err := s.cfg.DB.QueryRow(ctx, "SELECT count(*) FROM campaigns WHERE false").Scan(&n); err != nil {
		return app.Errorf(app.EUNAVAILABLE, "marketing database: %w", err)
	}
	return nil
}

// Handler serves the marketing API:
//
//	POST /v1/campaigns                  {"name": "...", "query": "words"}: a campaign whose recipients are the CRM contacts the words find
//	GET  /v1/campaigns                  the caller's campaigns
//	GET  /v1/campaigns/{id}             one, with its recipient count
//	GET  /v1/campaigns/{id}/recipients  its recipients
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/campaigns", s.authenticated(s.create))
	mux.HandleFunc("GET /v1/campaigns", s.authenticated(s.list))
	mux.HandleFunc("GET /v1/campaigns/{id}", s.authenticated(s.get))
	mux.HandleFunc("GET /v1/campaigns/{id}/recipients", s.authenticated(s.recipients))
	return mux
}

// caller is the CRM user a request's token belongs to.
type caller struct {
	ID    int64
	token string
}

// authenticated serves next to callers whose CRM API token the CRM
// accepts.
func (s *Server) authenticated(next func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			unauthorized(w)
			return
		}
		var body struct {
			User struct {
				ID int64 `json:"id"`
			} `json:"user"`
		}
		status, err := s.crm(r.Context(), token, "/api/v1/session", &body)
		switch {
		case status == http.StatusUnauthorized || err == nil && body.User.ID == 0:
			unauthorized(w)
		case err != nil:
			s.fail(w, app.Errorf(app.EUNAVAILABLE, "the CRM did not answer who holds the token: %w", err))
		default:
			next(w, r, caller{ID: body.User.ID, token: token})
		}
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="crm"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send a CRM API token: Authorization: Bearer crm_... (create one in the CRM under /api/v1/tokens)"})
}

// crm GETs path from the CRM's API with the caller's token and decodes
// the JSON answer into v; it returns the HTTP status. A server that does
// not answer (no connection, or 502/503 from a balancer or a draining
// server) makes it ask the next of Fallback.
func (s *Server) crm(ctx context.Context, token, path string, v any) (int, error) {
	status, err := s.crmAt(ctx, s.cfg.CRM, token, path, v)
	for _, base := range s.cfg.Fallback {
		if err == nil || ctx.Err() != nil || (status != 0 && status != http.StatusBadGateway && status != http.StatusServiceUnavailable) {
			break
		}
		s.cfg.Log.Warn("CRM did not answer, asking the next api server", "path", path, "err", err, "next", base)
		status, err = s.crmAt(ctx, base, token, path, v)
	}
	return status, err
}

func (s *Server) crmAt(ctx context.Context, base, token, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.StatusCode, json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(v)
}

// Campaign is a campaign as the API shows it.
type Campaign struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Query      string    `json:"query"`
	Recipients int       `json:"recipients"`
	CreatedAt  time.Time `json:"created_at"`
}

// Recipient is a CRM contact a campaign reaches.
type Recipient struct {
	ContactID int64  `json:"contact_id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, c caller) {
	var in struct {
		Name  string `json:"name"`
		Query string `json:"query"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		s.fail(w, app.Errorf(app.EINVALID, "the body must be JSON like {\"name\": \"Spring offer\", \"query\": \"smith\"}: %v", err))
		return
	}
	if n := len([]rune(strings.TrimSpace(in.Name))); n < 1 || n > 200 {
		s.fail(w, app.Errorf(app.EINVALID, "must be 1 to 200 characters, got %d", n).In("name"))
		return
	}
	recipients, err := s.contacts(r.Context(), c, in.Query)
	if err != nil {
		s.fail(w, err)
		return
	}
	camp := Campaign{Name: strings.TrimSpace(in.Name), Query: in.Query, Recipients: len(recipients)}
	err = pgx.BeginFunc(r.Context(), s.cfg.DB, func(tx pgx.Tx) error {
		err := tx.QueryRow(r.Context(), "INSERT INTO campaigns (owner_id, name, query) VALUES ($1, $2, $3) RETURNING id, created_at",
			c.ID, camp.Name, camp.Query).Scan(&camp.ID, &camp.CreatedAt)
		if err != nil {
			return err
		}
		rows := make([][]any, len(recipients))
		for i, rc := range recipients {
			rows[i] = []any{camp.ID, rc.ContactID, rc.Email, rc.Name}
		}
		_, err = tx.CopyFrom(r.Context(), pgx.Identifier{"recipients"}, []string{"campaign_id", "contact_id", "email", "name"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		s.fail(w, fmt.Errorf("saving the campaign: %w", err))
		return
	}
	writeJSON(w, http.StatusCreated, camp)
}

// contacts reads the CRM contacts query finds, as the caller sees them,
// page by page up to MaxRecipients; contacts without an e-mail address
// cannot be reached and are left out. Newest first by id (sort=-id), not
// by name nor in the CRM's default order (latest changed): the campaign
// keeps its recipients sorted itself; a search for a last name sorted by
// last name is the CRM's dearest (seconds at 25M records); and in id
// order the CRM walks its contacts in the order they lie on disk, where
// the order of change reads a page of the table for nearly every contact
// it passes (11,200 buffers for a page of 200 Schmidts at 25M records,
// against 1,260 by id: EXPLAIN BUFFERS, BENCHMARKS.md). Only the fields
// a recipient needs: the whole record would cost the CRM a lookup of the
// account's name per contact, a read at random in the accounts at full
// scale. A contact created while the pages are read comes ahead of them
// and is left out.
func (s *Server) contacts(ctx context.Context, c caller, query string) ([]Recipient, error) {
	var out []Recipient
	seen := map[int64]bool{}
	after := ""
	for len(out) < s.cfg.MaxRecipients {
		v := url.Values{"limit": {strconv.Itoa(app.MaxLimit)}, "sort": {"-id"}, "fields": {"id,first_name,last_name,email"}}
		if query != "" {
			v.Set("q", query)
		}
		if after != "" {
			v.Set("after", after)
		}
		var page struct {
			Items []struct {
				ID        int64   `json:"id"`
				FirstName string  `json:"first_name"`
				LastName  string  `json:"last_name"`
				Email     *string `json:"email"`
			} `json:"items"`
			Next string `json:"next"`
		}
		status, err := s.crm(ctx, c.token, "/api/v1/contacts?"+v.Encode(), &page)
		if status == http.StatusBadRequest {
			return nil, app.Errorf(app.EINVALID, "the CRM refused the search: %v", err).In("query")
		}
		if err != nil {
			return nil, app.Errorf(app.EUNAVAILABLE, "the CRM's contacts: %w", err)
		}
		for _, it := range page.Items {
			if it.Email == nil || *it.Email == "" || seen[it.ID] || len(out) == s.cfg.MaxRecipients {
				continue
			}
			seen[it.ID] = true
			out = append(out, Recipient{ContactID: it.ID, Email: *it.Email, Name: strings.TrimSpace(it.FirstName + " " + it.LastName)})
		}
		if page.Next == "" || len(page.Items) == 0 {
			break
		}
		after = page.Next
	}
	return out, nil
}

const campaignColumns = "c.id, c.name, c.query, c.created_at, (SELECT count(*) FROM recipients r WHERE r.campaign_id = c.id)"

func scanCampaign(row pgx.Row) (Campaign, error) {
	var c Campaign
	err := row.Scan(&c.ID, &c.Name, &c.Query, &c.CreatedAt, &c.Recipients)
	return c, err
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, c caller) {
	rows, err := s.cfg.DB.Query(r.Context(), "SELECT "+campaignColumns+" FROM campaigns c WHERE c.owner_id = $1 ORDER BY c.id DESC LIMIT 100", c.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Campaign, error) { return scanCampaign(row) })
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": append([]Campaign{}, out...)})
}

// own returns the caller's campaign {id}; another user's is not found,
// like a missing one.
func (s *Server) own(r *http.Request, c caller) (Campaign, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return Campaign{}, app.Errorf(app.EINVALID, "must be a campaign id like 12").In("id")
	}
	camp, err := scanCampaign(s.cfg.DB.QueryRow(r.Context(), "SELECT "+campaignColumns+" FROM campaigns c WHERE c.id = $1 AND c.owner_id = $2", id, c.ID))
	if errors.Is(err, pgx.ErrNoRows) {
		return camp, app.Errorf(app.ENOTFOUND, "campaign %d not found", id)
	}
	return camp, err
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, c caller) {
	camp, err := s.own(r, c)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, camp)
}

func (s *Server) recipients(w http.ResponseWriter, r *http.Request, c caller) {
	camp, err := s.own(r, c)
	if err != nil {
		s.fail(w, err)
		return
	}
	rows, err := s.cfg.DB.Query(r.Context(), "SELECT contact_id, email, name FROM recipients WHERE campaign_id = $1 ORDER BY name, contact_id", camp.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Recipient])
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"recipients": append([]Recipient{}, out...)})
}

var statusOf = map[string]int{
	app.EINVALID:     http.StatusBadRequest,
	app.ENOTFOUND:    http.StatusNotFound,
	app.EUNAVAILABLE: http.StatusServiceUnavailable,
}

// fail answers err: an *app.Error with its status and words, anything
// else as 500 with the detail kept in the log.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var e *app.Error
	if errors.As(err, &e) && statusOf[e.Code] != 0 {
		if e.Code == app.EUNAVAILABLE {
			s.cfg.Log.Warn("marketing", "err", err)
		}
		writeJSON(w, statusOf[e.Code], map[string]string{"error": e.Error()})
		return
	}
	s.cfg.Log.Error("marketing", "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
