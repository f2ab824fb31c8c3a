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
