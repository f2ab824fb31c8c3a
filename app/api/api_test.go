package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/migrations"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/store"
	"github.com/crmplan/crmplan/app/store/storetest"
	"github.com/crmplan/crmplan/pgserver"
)

// cheap argon2 costs keep the tests fast; production uses DefaultParams.
var cheap = secret.Params{Memory: 64, Time: 1, Threads: 1}

type fixture struct {
	srv   *httptest.Server
	store *store.Store
	users map[string]app.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, Config{})
}

// newFixtureWith serves the API with cfg (cheap password costs added).
func newFixtureWith(t *testing.T, cfg Config) *fixture {
	t.Helper()
	s, _ := storetest.Open(t)
	ctx := context.Background()
	f := &fixture{store: s, users: map[string]app.User{}}
	hash, _ := secret.HashPassword("password1", cheap)
	for _, u := range []struct {
		email string
		role  app.Role
		mgr   string
	}{{"admin@example.com", app.RoleAdmin, ""}, {"manager@example.com", app.RoleManager, ""}, {"rep1@example.com", app.RoleRep, "manager@example.com"}, {"rep2@example.com", app.RoleRep, ""}} {
		n := store.NewUser{Email: u.email, Name: u.email, Role: u.role, PasswordHash: hash}
		if u.mgr != "" {
			id := f.users[u.mgr].ID
			n.ManagerID = &id
		}
		created, err := s.CreateUser(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		f.users[u.email] = created
	}
	cfg.Password = cheap
	a := New(s, cfg)
	m := metrics.New("api")
	m.AddPools(s.Pools)
	m.AddSearchSteps(s.SearchSteps)
	f.srv = httptest.NewServer(serve.Handler(serve.Config{Role: "api", Handler: a.Handler(), Ready: a.Ready, Metrics: m}))
	t.Cleanup(f.srv.Close)
	return f
}

type client struct {
	t      *testing.T
	base   string
	http   *http.Client
	bearer string
}

func (f *fixture) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: f.srv.URL, http: &http.Client{Jar: jar}}
}

// signIn returns a client with a session for email.
func (f *fixture) signIn(t *testing.T, email string) *client {
	c := f.client(t)
	if code, body := c.do("POST", "/api/v1/session", `{"email":"`+email+`","password":"password1"}`); code != 200 {
		t.Fatalf("sign in %s: %d %s", email, code, body)
	}
	return c
}

func (c *client) do(method, path, body string, header ...string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// id creates a record and returns its id.
func (c *client) id(path, body string) int64 {
	c.t.Helper()
	code, b := c.do("POST", path, body)
	if code != 201 {
		c.t.Fatalf("POST %s %s: %d %s", path, body, code, b)
	}
	var rec struct{ ID int64 }
	_ = json.Unmarshal([]byte(b), &rec)
	return rec.ID
}

func errCode(body string) (code, field string) {
	var e errorBody
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code, e.Error.Field
}

func TestSessionLifecycle(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	if code, body := c.do("GET", "/api/v1/session", ""); code != 401 || !strings.Contains(body, `"unauthorized"`) {
		t.Fatalf("anonymous: %d %s", code, body)
	}
	if code, body := c.do("POST", "/api/v1/session", `{"email":"admin@example.com","password":"wrong-one"}`); code != 401 {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	if code, _ := c.do("POST", "/api/v1/session", `{"email":"nobody@example.com","password":"password1"}`); code != 401 {
		t.Fatalf("unknown user: %d", code)
	}
	c = f.signIn(t, "ADMIN@example.com")
	code, body := c.do("GET", "/api/v1/session", "")
	if code != 200 || !strings.Contains(body, `"role":"admin"`) || strings.Contains(body, "argon2") {
		t.Fatalf("session: %d %s", code, body)
	}
	u, _ := http.NewRequest("GET", f.srv.URL, nil)
	for _, ck := range c.http.Jar.Cookies(u.URL) {
		if ck.Name == sessionCookie && ck.Value == "" {
			t.Error("empty session cookie")
		}
	}
	if code, _ := c.do("DELETE", "/api/v1/session", ""); code != 204 {
		t.Fatalf("sign out: %d", code)
	}
	if code, _ := c.do("GET", "/api/v1/session", ""); code != 401 {
		t.Fatalf("after sign out: %d", code)
	}
}

func TestRecordsCRUDAndRoles(t *testing.T) {
	f := newFixture(t)
	admin, rep1, rep2, mgr := f.signIn(t, "admin@example.com"), f.signIn(t, "rep1@example.com"), f.signIn(t, "rep2@example.com"), f.signIn(t, "manager@example.com")
	acc := rep1.id("/api/v1/accounts", `{"name":"Acme GmbH","city":"Berlin"}`)
	rep1.id("/api/v1/contacts", fmt.Sprintf(`{"first_name":"Ann","last_name":"Lee","account_id":%d}`, acc))
	rep1.id("/api/v1/opportunities", fmt.Sprintf(`{"name":"Renewal","account_id":%d,"amount":5000,"stage":"proposal"}`, acc))
	rep1.id("/api/v1/activities", fmt.Sprintf(`{"kind":"task","subject":"Send offer","account_id":%d,"due_at":"2030-01-02T10:00:00Z"}`, acc))

	code, body := rep1.do("GET", fmt.Sprintf("/api/v1/accounts/%d", acc), "")
	if code != 200 || !strings.Contains(body, `"contacts": [{`) && !strings.Contains(body, `"contacts":[{`) {
		t.Fatalf("account detail: %d %s", code, body)
	}
	for _, c := range []struct {
		who  *client
		want int
	}{{rep1, 200}, {mgr, 200}, {admin, 200}, {rep2, 404}} {
		if code, _ := c.who.do("GET", fmt.Sprintf("/api/v1/accounts/%d", acc), ""); code != c.want {
			t.Errorf("GET account: %d, want %d", code, c.want)
		}
	}
	if code, body := rep2.do("PATCH", fmt.Sprintf("/api/v1/accounts/%d", acc), `{"name":"Mine"}`); code != 404 {
		t.Errorf("rep2 patches rep1's account: %d %s", code, body)
	}
	code, body = rep1.do("PATCH", fmt.Sprintf("/api/v1/accounts/%d", acc), fmt.Sprintf(`{"owner_id":%d}`, f.users["rep2@example.com"].ID))
	if c, field := errCode(body); code != 403 || c != "forbidden" || field != "owner_id" {
		t.Errorf("rep gives away a record: %d %s", code, body)
	}
	if code, body := mgr.do("PATCH", fmt.Sprintf("/api/v1/accounts/%d", acc), `{"industry":"Software"}`); code != 200 || !strings.Contains(body, "Software") {
		t.Errorf("manager edits team record: %d %s", code, body)
	}
	code, body = rep1.do("GET", "/api/v1/opportunities?stage=proposal&sort=-amount&limit=1", "")
	var page struct {
		Items []map[string]any
		Next  string
	}
	_ = json.Unmarshal([]byte(body), &page)
	if code != 200 || len(page.Items) != 1 || page.Items[0]["amount"] != 5000.0 {
		t.Errorf("opportunities list: %d %s", code, body)
	}
	if code, body := rep1.do("GET", "/api/v1/accounts?q=acme+berl", ""); code != 200 || !strings.Contains(body, "Acme GmbH") {
		t.Errorf("search: %d %s", code, body)
	}
	if code, body := rep1.do("GET", "/api/v1/activities?kind=task&done=false", ""); code != 200 || !strings.Contains(body, "Send offer") {
		t.Errorf("activities filter: %d %s", code, body)
	}
	if code, _ := rep1.do("DELETE", fmt.Sprintf("/api/v1/accounts/%d", acc), ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := rep1.do("GET", fmt.Sprintf("/api/v1/accounts/%d", acc), ""); code != 404 {
		t.Errorf("deleted account: %d", code)
	}
	rep, body := admin.do("GET", "/api/v1/reports/pipeline", "")
	if rep != 200 || !strings.Contains(body, `"stage":"closed_lost"`) {
		t.Errorf("pipeline: %d %s", rep, body)
	}
	if code, body := admin.do("GET", "/api/v1/reports/activities", ""); code != 200 || strings.Count(body, `"day"`) != 7 {
		t.Errorf("activities report: %d %s", code, body)
	}
}

// TestBadRequests: each bad request gets a 4xx with a JSON error and changes nothing.
func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	c := f.signIn(t, "admin@example.com")
	acc := c.id("/api/v1/accounts", `{"name":"Keep me"}`)
	tests := []struct {
		name, method, path, body string
		header                   []string
		wantStatus               int
		wantCode, wantField      string
	}{
		{"bad JSON", "POST", "/api/v1/accounts", `{"name":`, nil, 400, "invalid", ""},
		{"unknown field", "POST", "/api/v1/accounts", `{"name":"x","admin":true}`, nil, 400, "invalid", "admin"},
		{"wrong type", "POST", "/api/v1/accounts", `{"name":5}`, nil, 400, "invalid", "name"},
		{"too large", "POST", "/api/v1/accounts", `{"name":"` + strings.Repeat("x", maxJSONBody) + `"}`, nil, 413, "too_large", ""},
		{"id not a number", "GET", "/api/v1/accounts/abc", "", nil, 400, "invalid", "id"},
		{"SQL in id", "GET", "/api/v1/accounts/1%20OR%201=1", "", nil, 400, "invalid", "id"},
		{"SQL in sort", "GET", "/api/v1/accounts?sort=name%3B%20DROP%20TABLE%20accounts", "", nil, 400, "invalid", "sort"},
		{"SQL in filter", "GET", "/api/v1/accounts?owner_id=1%20OR%201%3D1", "", nil, 400, "invalid", "owner_id"},
		{"SQL in fields", "GET", "/api/v1/contacts?fields=id,(SELECT%20password_hash%20FROM%20users%20LIMIT%201)", "", nil, 400, "invalid", "fields"},
		{"a column that is no field", "GET", "/api/v1/contacts?fields=search", "", nil, 400, "invalid", "fields"},
		{"forged cursor", "GET", "/api/v1/accounts?after=JyBPUiAxPTE", "", nil, 400, "invalid", "after"},
		{"limit", "GET", "/api/v1/accounts?limit=100000", "", nil, 400, "invalid", "limit"},
		{"form post (CSRF)", "POST", "/api/v1/accounts", `{"name":"x"}`, []string{"Content-Type", "text/plain"}, 403, "forbidden", ""},
		{"unknown endpoint", "GET", "/api/v1/nope", "", nil, 404, "not_found", ""},
		{"missing record", "PATCH", "/api/v1/accounts/999999", `{"name":"x"}`, nil, 404, "not_found", ""},
		{"dangling reference", "POST", "/api/v1/contacts", `{"first_name":"a","last_name":"b","account_id":999999}`, nil, 400, "invalid", "account_id"},
		{"bad token", "GET", "/api/v1/accounts", "", []string{"Authorization", "Bearer nope"}, 401, "unauthorized", ""},
		{"csv wrong type", "POST", "/api/v1/import/contacts", "first_name,last_name\na,b\n", []string{"Content-Type", "application/json"}, 400, "invalid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := c.do(tt.method, tt.path, tt.body, tt.header...)
			gotCode, gotField := errCode(body)
			if code != tt.wantStatus || gotCode != tt.wantCode || gotField != tt.wantField {
				t.Errorf("%d %s, want %d %s field %q", code, body, tt.wantStatus, tt.wantCode, tt.wantField)
			}
		})
	}
	code, body := c.do("GET", "/api/v1/accounts?q=%27%3B+DROP+TABLE+accounts%3B--", "")
	if code != 200 {
		t.Errorf("SQL-looking search: %d %s", code, body)
	}
	if code, body := c.do("GET", fmt.Sprintf("/api/v1/accounts/%d", acc), ""); code != 200 || !strings.Contains(body, "Keep me") {
		t.Errorf("record changed by bad requests: %d %s", code, body)
	}
}

func TestTokensUsersImportExport(t *testing.T) {
	f := newFixture(t)
	admin, mgr, rep := f.signIn(t, "admin@example.com"), f.signIn(t, "manager@example.com"), f.signIn(t, "rep1@example.com")
	code, body := rep.do("POST", "/api/v1/tokens", `{"name":"esb"}`)
	var tok struct{ Token string }
	_ = json.Unmarshal([]byte(body), &tok)
	if code != 201 || !strings.HasPrefix(tok.Token, "crm_") {
		t.Fatalf("token: %d %s", code, body)
	}
	bot := f.client(t)
	bot.bearer = tok.Token
	if code, body := bot.do("GET", "/api/v1/session", ""); code != 200 || !strings.Contains(body, "rep1@example.com") {
		t.Fatalf("bearer: %d %s", code, body)
	}
	csv := "first_name,last_name,email\nAnn,Lee,ann@example.com\n\"Bob, Jr.\",O'Neil,\n"
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/import/contacts", strings.NewReader(csv))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"imported":2`)) {
		t.Fatalf("import: %d %s", resp.StatusCode, b)
	}
	code, body = rep.do("GET", "/api/v1/export/contacts", "")
	if code != 200 || !strings.HasPrefix(body, "id,first_name,last_name,email") || !strings.Contains(body, `"Bob, Jr.",O'Neil`) {
		t.Fatalf("export: %d %q", code, body)
	}
	bad := "first_name,last_name,email\nAnn,Lee,not-an-email\n"
	code, body = rep.do("POST", "/api/v1/import/contacts", bad, "Content-Type", "text/csv")
	if code != 400 || !strings.Contains(body, "line 2") {
		t.Errorf("bad CSV: %d %s", code, body)
	}
	// Users: a manager creates reps in their team only; reps create nobody.
	code, body = mgr.do("POST", "/api/v1/users", `{"email":"rep9@example.com","name":"Rep Nine","role":"rep","password":"long enough"}`)
	if code != 201 || !strings.Contains(body, fmt.Sprintf(`"manager_id":%d`, f.users["manager@example.com"].ID)) {
		t.Errorf("manager creates rep: %d %s", code, body)
	}
	if code, _ := mgr.do("POST", "/api/v1/users", `{"email":"a2@example.com","name":"A","role":"admin","password":"long enough"}`); code != 403 {
		t.Errorf("manager creates admin: %d", code)
	}
	if code, _ := rep.do("POST", "/api/v1/users", `{"email":"x@example.com","name":"X","role":"rep","password":"long enough"}`); code != 403 {
		t.Errorf("rep creates user: %d", code)
	}
	if code, _ := admin.do("POST", "/api/v1/users", `{"email":"rep1@example.com","name":"Dup","role":"rep","password":"long enough"}`); code != 409 {
		t.Errorf("duplicate e-mail: %d", code)
	}
	if code, body := rep.do("PATCH", fmt.Sprintf("/api/v1/users/%d", f.users["rep1@example.com"].ID), `{"role":"admin"}`); code != 403 {
		t.Errorf("rep promotes self: %d %s", code, body)
	}
	if code, body := rep.do("PATCH", fmt.Sprintf("/api/v1/users/%d", f.users["rep1@example.com"].ID), `{"password":"new password"}`); code != 200 {
		t.Errorf("rep changes own password: %d %s", code, body)
	}
	if code, body := mgr.do("GET", "/api/v1/users", ""); code != 200 || strings.Contains(body, "rep2@example.com") || !strings.Contains(body, "rep1@example.com") {
		t.Errorf("manager's users: %d %s", code, body)
	}
	if code, body := f.client(t).do("GET", "/metrics", ""); code != 200 || !strings.Contains(body, `crm_http_request_duration_seconds_bucket{role="api",route="GET /api/v1/session"`) || !strings.Contains(body, "process_cpu_seconds_total") || !strings.Contains(body, `crm_db_pool_connections{pool="primary"`) || !strings.Contains(body, `crm_search_steps_total{step="count"}`) {
		t.Errorf("metrics: %d %.2000s", code, body)
	}
	if code, body := f.client(t).do("GET", "/readyz", ""); code != 200 {
		t.Errorf("readyz: %d %s", code, body)
	}
}

func FuzzDecodeUser(f *testing.F) {
	f.Add([]byte(`{"email":"a@example.com","name":"A","role":"rep","password":"12345678"}`), true)
	f.Add([]byte(`{"password":"x"}`), false)
	f.Fuzz(func(t *testing.T, body []byte, create bool) {
		c, pw, err := decodeUser(body, create)
		if err != nil {
			if app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("code %s: %v", app.ErrorCode(err), err)
			}
			return
		}
		if create && (len(pw) < 8 || len(c.Columns) < 3) {
			t.Fatalf("accepted create %q", body)
		}
		if _, ok := c.Get("password"); ok {
			t.Fatal("password leaked into the columns")
		}
	})
}

// TestReadYourWritesWithReplica: through the API, with lists served by a
// real streaming replica, a client sees its own write at once.
func TestReadYourWritesWithReplica(t *testing.T) {
	primary, replica := pgserver.StartTestPair(t)
	ctx := context.Background()
	if _, err := migrations.UpTo(ctx, primary.URL("postgres"), migrations.Latest, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, store.Config{DatabaseURL: primary.URL("postgres"), ReplicaURL: replica.URL("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hash, _ := secret.HashPassword("password1", cheap)
	if _, err := s.CreateUser(ctx, store.NewUser{Email: "admin@example.com", Name: "A", Role: app.RoleAdmin, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	a := New(s, Config{Password: cheap})
	f := &fixture{store: s, srv: httptest.NewServer(a.Handler())}
	defer f.srv.Close()
	if err := primary.WaitReplayed(ctx, replica); err != nil {
		t.Fatal(err)
	}
	c := f.signIn(t, "admin@example.com")
	for i := range 30 {
		c.id("/api/v1/accounts", fmt.Sprintf(`{"name":"Fresh %d"}`, i))
		code, body := c.do("GET", "/api/v1/accounts?limit=200", "")
		if code != 200 || strings.Count(body, `"name": "Fresh`)+strings.Count(body, `"name":"Fresh`) != i+1 {
			t.Fatalf("after write %d the list shows %d: %d %.300s", i+1, strings.Count(body, "Fresh"), code, body)
		}
	}
	// Another client, without the write position, is served too.
	if code, _ := f.signIn(t, "admin@example.com").do("GET", "/api/v1/accounts", ""); code != 200 {
		t.Errorf("second client: %d", code)
	}
}
