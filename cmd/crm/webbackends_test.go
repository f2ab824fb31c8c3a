package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/admin"
	"github.com/crmplan/crmplan/app/web"
)

// TestReloadBackendsFile: POST /reload applies the backends file's changes
// to the running balancer (an api server added, then one removed), and a
// file that cannot be read leaves the balancer as it was.
func TestReloadBackendsFile(t *testing.T) {
	api := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	a, b := api("a"), api("b")
	file := filepath.Join(t.TempDir(), "web.backends")
	write := func(content string) {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# api servers\n" + a + "\n")
	backends := func() ([]string, error) { return webBackends(nil, file) }
	urls, err := backends()
	if err != nil {
		t.Fatal(err)
	}
	lb, err := web.NewBalancer(urls, web.Balance, 20*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	go lb.Run(t.Context())
	h := webAdminHandler(lb, backends)
	reload := func() (int, []string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/reload", nil))
		var body struct{ Backends []web.BackendState }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("reload answered %s: %v", rec.Body.String(), err)
		}
		var got []string
		for _, be := range body.Backends {
			got = append(got, be.URL)
		}
		return rec.Code, got
	}
	tests := []struct {
		name     string
		file     string
		wantCode int
		want     []string
	}{
		{"scale out", a + "\n\n" + b + "\n", http.StatusOK, []string{a, b}},
		{"scale in", b + "\n", http.StatusOK, []string{b}},
		{"not a URL", "127.0.0.1:1\n", http.StatusConflict, []string{b}},
		{"no file", "", http.StatusConflict, []string{b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.file == "" {
				_ = os.Remove(file)
			} else {
				write(tt.file)
			}
			code, got := reload()
			if code != tt.wantCode || !slices.Equal(got, tt.want) {
				t.Errorf("reload: %d %v, want %d %v", code, got, tt.wantCode, tt.want)
			}
		})
	}
}

// TestAdminReloadsIntegrators: crm admin's POST /reload makes the
// integrators file's list the console's members (one added, then one
// removed), and a file that cannot be read leaves them as they were.
func TestAdminReloadsIntegrators(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin.backends")
	integrators := func() ([]string, error) { return webBackends([]string{"http://esb-1:8084"}, file) }
	c := admin.New(admin.Config{Integrators: []string{"http://esb-1:8084"}, Client: http.DefaultClient, Log: slog.New(slog.DiscardHandler)})
	h := adminReloadHandler(c, integrators)
	tests := []struct {
		name     string
		file     string
		wantCode int
		want     []string
	}{
		{"scale out", "http://esb-2:8084\nhttp://esb-3:8084\n", http.StatusOK, []string{"http://esb-1:8084", "http://esb-2:8084", "http://esb-3:8084"}},
		{"scale in", "# one left\nhttp://esb-2:8084\n", http.StatusOK, []string{"http://esb-1:8084", "http://esb-2:8084"}},
		{"no file", "", http.StatusConflict, []string{"http://esb-1:8084", "http://esb-2:8084"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.file == "" {
				_ = os.Remove(file)
			} else if err := os.WriteFile(file, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/reload", nil))
			var body struct{ Backends []string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("reload answered %s: %v", rec.Body.String(), err)
			}
			if rec.Code != tt.wantCode || !slices.Equal(body.Backends, tt.want) || !slices.Equal(c.Integrators(), tt.want) {
				t.Errorf("reload: %d %v (console asks %v), want %d %v", rec.Code, body.Backends, c.Integrators(), tt.wantCode, tt.want)
			}
		})
	}
}
