package marketing

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/api"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/store"
	"github.com/crmplan/crmplan/app/store/storetest"
)

// TestCampaigns runs the marketing server on its own database in front of
// a real CRM api server: a campaign's recipients are the contacts its
// owner sees in the CRM (with an e-mail address) that its query finds;
// another user does not see it; calls without a token the CRM accepts are
// refused, and a CRM that does not answer makes 503s, not 500s.
func TestCampaigns(t *testing.T) {
	ctx := context.Background()
	s, pg := storetest.Open(t)
	crm := httptest.NewServer(serve.Handler(serve.Config{Role: "api", Handler: api.New(s, api.Config{Password: secret.Params{Memory: 64, Time: 1, Threads: 1}}).Handler(),
		Metrics: metrics.New("api")}))
	defer crm.Close()
	tokens := map[string]string{}
	for _, email := range []string{"rep1@example.com", "rep2@example.com"} {
		u, err := s.CreateUser(ctx, store.NewUser{Email: email, Name: email, Role: app.RoleRep, PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, tokens[email], err = s.CreateToken(ctx, u.ID, "marketing", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ who, body string }{
		{"rep1@example.com", `{"first_name":"Ada","last_name":"Smith","email":"ada@example.com"}`},
		{"rep1@example.com", `{"first_name":"Bob","last_name":"Smith"}`}, // no address: not a recipient
		{"rep1@example.com", `{"first_name":"Cy","last_name":"Jones","email":"cy@example.com"}`},
		{"rep2@example.com", `{"first_name":"Dee","last_name":"Smith","email":"dee@example.com"}`}, // rep1 does not see it
	} {
		if code, body := call(t, crm.URL, "POST", "/api/v1/contacts", tokens[c.who], c.body); code != 201 {
			t.Fatalf("creating a contact: %d %s", code, body)
		}
	}

	if err := pg.Exec(ctx, "postgres", "CREATE DATABASE marketing"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(pg.URL("postgres"))
	u.Path = "/marketing"
	db, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 { // a second server starting finds the schema there
		if err := Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	m := New(Config{DB: db, CRM: crm.URL})
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	rep1, rep2 := tokens["rep1@example.com"], tokens["rep2@example.com"]
	code, body := call(t, srv.URL, "POST", "/v1/campaigns", rep1, `{"name":"Spring offer","query":"smith"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var camp Campaign
	if err := json.Unmarshal([]byte(body), &camp); err != nil || camp.Recipients != 1 || camp.Name != "Spring offer" {
		t.Errorf("created %s (%v), want Spring offer with 1 recipient (Ada: Bob has no address, Dee is rep2's)", body, err)
	}
	id := "/v1/campaigns/" + itoa(camp.ID)
	if code, body := call(t, srv.URL, "GET", id+"/recipients", rep1, ""); code != 200 || !strings.Contains(body, "ada@example.com") || strings.Contains(body, "dee@") {
		t.Errorf("recipients: %d %s", code, body)
	}
	if code, body := call(t, srv.URL, "POST", "/v1/campaigns", rep1, `{"name":"Everyone"}`); code != 201 || !strings.Contains(body, `"recipients":2`) {
		t.Errorf("a campaign without a query takes every contact rep1 sees with an address: %d %s", code, body)
	}
	if code, body := call(t, srv.URL, "GET", "/v1/campaigns", rep1, ""); code != 200 || strings.Count(body, `"id"`) != 2 {
		t.Errorf("rep1's campaigns: %d %s", code, body)
	}
	if code, body := call(t, srv.URL, "GET", "/v1/campaigns", rep2, ""); code != 200 || !strings.Contains(body, `"campaigns":[]`) {
		t.Errorf("rep2's campaigns: %d %s", code, body)
	}
	if code, _ := call(t, srv.URL, "GET", id, rep2, ""); code != 404 {
		t.Errorf("rep2 reading rep1's campaign: %d, want 404", code)
	}

	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "GET", "/v1/campaigns", "", "", 401},
		{"a token the CRM does not know", "GET", "/v1/campaigns", "crm_forged", "", 401},
		{"no name", "POST", "/v1/campaigns", rep1, `{"query":"x"}`, 400},
		{"unknown field", "POST", "/v1/campaigns", rep1, `{"name":"a","owner_id":1}`, 400},
		{"not an id", "GET", "/v1/campaigns/x", rep1, "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := call(t, srv.URL, tt.method, tt.path, tt.token, tt.body); code != tt.want {
				t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
		})
	}

	// An api server that does not answer (restarting in a rolling deploy)
	// is skipped for the next one; with none answering, 503.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	failover := httptest.NewServer(New(Config{DB: db, CRM: down.URL, Fallback: []string{crm.URL}}).Handler())
	defer failover.Close()
	if code, body := call(t, failover.URL, "GET", id+"/recipients", rep1, ""); code != 200 || !strings.Contains(body, "ada@example.com") {
		t.Errorf("with the first api server down: %d %s, want the recipients from the second", code, body)
	}
	crm.Close()
	if code, body := call(t, srv.URL, "GET", "/v1/campaigns", rep1, ""); code != 503 {
		t.Errorf("with the CRM down: %d %s, want 503", code, body)
	}
	if code, body := call(t, failover.URL, "GET", "/v1/campaigns", rep1, ""); code != 503 {
		t.Errorf("with both api servers down: %d %s, want 503", code, body)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func call(t *testing.T, base, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
