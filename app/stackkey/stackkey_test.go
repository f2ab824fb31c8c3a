package stackkey

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmplan/crmplan/app"
)

func TestRequire(t *testing.T) {
	key, err := Parse("0123456789abcdef-stack", "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(key.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	defer srv.Close()
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"wrong key", "Bearer 0123456789abcdef-other", http.StatusUnauthorized},
		{"key as a prefix", "Bearer 0123456789abcdef-stack-and-more", http.StatusUnauthorized},
		{"not bearer", "Basic 0123456789abcdef-stack", http.StatusUnauthorized},
		{"the key", "Bearer 0123456789abcdef-stack", http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
		})
	}
	// A client with the key's transport gets through.
	res, err := (&http.Client{Transport: key.Transport(nil)}).Get(srv.URL)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("with Transport: %v %v", res, err)
	}
	res.Body.Close()
	// The zero Key lets nobody in, even with an empty bearer.
	zero := httptest.NewServer(Key{}.Require(http.NotFoundHandler()))
	defer zero.Close()
	req, _ := http.NewRequest("GET", zero.URL, nil)
	req.Header.Set("Authorization", "Bearer ")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("zero key: %v %v", res, err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		env     string
		wantErr bool
	}{
		{"file", write("good", "0123456789abcdef\n", 0o600), "", false},
		{"readable by others", write("open", "0123456789abcdef\n", 0o644), "", true},
		{"too short", write("short", "abc\n", 0o600), "", true},
		{"missing file", filepath.Join(dir, "none"), "", true},
		{"env", "", "0123456789abcdef", false},
		{"nothing", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(Env, tt.env)
			_, err := Load(tt.file)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && app.ErrorCode(err) != app.EINVALID {
				t.Errorf("code %s, want invalid", app.ErrorCode(err))
			}
		})
	}
}
