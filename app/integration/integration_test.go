package integration

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/api"
	"github.com/crmplan/crmplan/app/kv"
	"github.com/crmplan/crmplan/app/mail"
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
	tokenID, token := esbClient(t, s)
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

// esbClient creates the integration client esb@example.com (password
// "password1") and an API token of it: the token's id and the token.
func esbClient(t *testing.T, s *store.Store) (int64, string) {
	t.Helper()
	ctx := context.Background()
	hash, _ := secret.HashPassword("password1", secret.Params{Memory: 64, Time: 1, Threads: 1})
	u, err := s.CreateUser(ctx, store.NewUser{Email: "esb@example.com", Name: "ESB client", Role: app.RoleAdmin, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	tok, token, err := s.CreateToken(ctx, u.ID, "integration", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID, token
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

// TestGatewaysShareState runs two integrators of one cluster over a real
// Redis (crm kv): a token one verified is trusted by the other without
// asking the api tier, the store counts the calls of both, and a store out
// of reach costs no call.
func TestGatewaysShareState(t *testing.T) {
	s, _ := storetest.Open(t)
	ctx := context.Background()
	_, token := esbClient(t, s)
	var verifications atomic.Int64
	apiHandler := api.New(s, api.Config{}).Handler()
	apiSrv := httptest.NewServer(serve.Handler(serve.Config{Role: "api", Metrics: metrics.New("api"),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v1/session" {
				verifications.Add(1)
			}
			apiHandler.ServeHTTP(w, r)
		})}))
	t.Cleanup(apiSrv.Close)
	state := kv.Dial(kv.StartTest(t, ""), kv.TestPassword)
	t.Cleanup(func() { state.Close() })

	esb := func(st State) (*Gateway, string) {
		reg := prometheus.NewRegistry()
		lb, err := web.NewBalancer([]string{apiSrv.URL}, web.Balance, time.Second, slog.New(slog.DiscardHandler), reg)
		if err != nil {
			t.Fatal(err)
		}
		g := New(lb, time.Hour, reg).WithState(st)
		srv := httptest.NewServer(g.Handler())
		t.Cleanup(srv.Close)
		return g, srv.URL
	}
	_, first := esb(state)
	_, second := esb(state)
	for i, base := range []string{first, second, second} {
		if code, body := call(t, base, "GET", "/api/v1/contacts", "Bearer "+token, ""); code != 200 {
			t.Fatalf("call %d = %d %s, want 200", i, code, body)
		}
	}
	if n := verifications.Load(); n != 1 {
		t.Errorf("the api tier verified the token %d times, want once: the second integrator should take the first's grant", n)
	}
	if calls, err := state.Calls(ctx); err != nil || calls["esb@example.com"] != 3 {
		t.Errorf("the store's call count = %v, %v; want esb@example.com: 3", calls, err)
	}

	// A store nobody listens on: the call goes through, the error is counted.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := kv.Dial(l.Addr().String(), kv.TestPassword)
	l.Close()
	t.Cleanup(func() { gone.Close() })
	g, lonely := esb(gone)
	if code, body := call(t, lonely, "GET", "/api/v1/contacts", "Bearer "+token, ""); code != 200 {
		t.Fatalf("with the store out of reach = %d %s, want 200", code, body)
	}
	if n := testutil.ToFloat64(g.stateErr); n < 2 {
		t.Errorf("crm_integration_state_errors_total = %v, want the failed grant read, grant write and count", n)
	}
}

// TestEjectedAPIServerMailed: an api server that stops answering while in
// rotation is mailed to the operators, once, through a real relay; one
// drained first (a deploy) is not.
func TestEjectedAPIServerMailed(t *testing.T) {
	addr, maildir := mail.StartTest(t)
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	failing, drained := httptest.NewServer(http.HandlerFunc(ok)), httptest.NewServer(http.HandlerFunc(ok))
	defer drained.Close()
	lb, err := web.NewBalancer([]string{failing.URL, drained.URL}, web.Balance, 50*time.Millisecond, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := mail.Notifier{Addr: addr, Password: mail.TestPassword, From: "integration@crm.local", To: []string{"ops@crm.local"}}
	lb.OnEject(MailEjected(ctx, n, "integration-2", slog.New(slog.DiscardHandler)))
	go lb.Run(ctx)
	if err := lb.Drain(ctx, drained.URL); err != nil {
		t.Fatal(err)
	}
	drained.Close()
	failing.Close()
	msgs := mail.Delivered(t, maildir, 1, 10*time.Second)
	if more := mail.Delivered(t, maildir, 2, 500*time.Millisecond); len(more) != 1 {
		t.Fatalf("%d mails, want 1 (the drained server is no news, the failed one is news once):\n%s", len(more), strings.Join(more, "\n---\n"))
	}
	if !strings.Contains(msgs[0], "Subject: integrator integration-2: api server "+failing.URL+" out of rotation") {
		t.Errorf("the mail is not about %s:\n%s", failing.URL, msgs[0])
	}
}
