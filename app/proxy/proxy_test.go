package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/web"
)

// TestProxy forwards through a real balancer to a real LAN server.
func TestProxy(t *testing.T) {
	lan := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "lan "+r.URL.Path+" via "+r.Header.Get("X-Forwarded-By")+" for "+r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(lan.Close)
	b, err := web.NewBalancer([]string{lan.URL}, web.Balance, time.Second, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	console := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "admin "+r.URL.Path+" via "+r.Header.Get("X-Forwarded-By"))
	}))
	t.Cleanup(console.Close)
	admins, err := web.NewBalancer([]string{console.URL}, web.Balance, time.Second, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(b, []string{"/api/v1/"}, Route{Prefix: "/admin/", Next: admins}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, path string
		want       int
		wantBody   string
	}{
		{"allowed", "/api/v1/contacts", 200, "lan /api/v1/contacts via crm-proxy for 127.0.0.1"},
		{"metrics stay inside", "/metrics", 404, "not exposed"},
		{"prefix must match", "/api/v2/x", 404, "not exposed"},
		{"routed to the consoles", "/admin/v1/cluster", 200, "admin /admin/v1/cluster via crm-proxy"},
		{"a route's prefix must match too", "/administrator", 404, "not exposed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.want || string(body) != tt.wantBody && tt.want == 200 {
				t.Fatalf("GET %s = %d %q, want %d %q", tt.path, res.StatusCode, body, tt.want, tt.wantBody)
			}
		})
	}
}
