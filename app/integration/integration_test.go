package integration

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/api"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/store"
	"github.com/crmplan/crmplan/app/store/storetest"
	"github.com/crmplan/crmplan/app/web"
)

// TestGateway runs the ESB in front of a real api server on a real
// PostgreSQL: tokens the CRM issued pass, anything else is refused before
// it reaches the api, and a revoked token stops working after the TTL.
func TestGateway(t *testing.T) {
	s, _ := storetest.Open(t)
	ctx := context.Background()
	hash, _ := secret.HashPassword("password1", secret.Params{Memory: 64, Time: 1, Threads: 1})
	u, err := s.CreateUser(ctx, store.NewUser{Email: "esb@example.com", Name: "ESB client", Role: app.RoleAdmin, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	tok, token, err := s.CreateToken(ctx, u.ID, "integration", time.Hour)
	tokenID := tok.ID
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(serve.Handler(serve.Config{Role: "api", Handler: api.New(s, api.Config{}).Handler(), Metrics: metrics.New("api")}))
	t.Cleanup(apiSrv.Close)

	reg := prometheus.NewRegistry()
	lb, err := web.NewBalancer([]string{apiSrv.URL}, web.Balance, time.Second, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	g := New(lb, time.Hour, reg)
	clock := time.Now()
	g.now = func() time.Time { return clock }
	esb := httptest.NewServer(g.Handler())
	t.Cleanup(esb.Close)

	tests := []struct {
		name, method, path, auth, body string
		want                           int
		wantBody                       string
	}{
		{"no token", "GET", "/api/v1/contacts", "", "", 401, "API token"},
		{"wrong token", "GET", "/api/v1/contacts", "Bearer nope", "", 401, "not accepted"},
		{"session refused", "POST", "/api/v1/session", "", `{"email":"esb@example.com","password":"password1"}`, 403, "not sessions"},
		{"create through esb", "POST", "/api/v1/contacts", "Bearer " + token, `{"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com"}`, 201, "Lovelace"},
		{"list through esb", "GET", "/api/v1/contacts?q=Lovelace", "Bearer " + token, "", 200, "ada@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, esb.URL, tt.method, tt.path, tt.auth, tt.body)
			if code != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("%s %s = %d %s, want %d containing %q", tt.method, tt.path, code, body, tt.want, tt.wantBody)
			}
		})
	}
	if n := testutil.ToFloat64(g.calls.WithLabelValues("esb@example.com", "2xx")); n != 2 {
		t.Errorf("crm_integration_calls_total{client=esb,code=2xx} = %v, want 2", n)
	}
	if _, err := s.Pools()["primary"].Exec(ctx, "DELETE FROM api_tokens WHERE id = $1", tokenID); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the ESB trusts its verdict, but the api still checks
	// every call: a revoked token is refused at once either way.
	denied := testutil.ToFloat64(g.denied)
	if code, _ := call(t, esb.URL, "GET", "/api/v1/contacts", "Bearer "+token, ""); code != 401 {
		t.Errorf("revoked token within the TTL = %d, want the api's 401", code)
	}
	if d := testutil.ToFloat64(g.denied); d != denied {
		t.Errorf("within the TTL the ESB itself denied (%v -> %v); want the api to", denied, d)
	}
	clock = clock.Add(2 * time.Hour)
	if code, body := call(t, esb.URL, "GET", "/api/v1/contacts", "Bearer "+token, ""); code != 401 || !strings.Contains(body, "not accepted") {
		t.Errorf("revoked token after the TTL = %d %s, want the ESB's 401", code, body)
	}
}

func call(t *testing.T, base, method, path, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
