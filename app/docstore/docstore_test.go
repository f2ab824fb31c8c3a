package docstore

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	sum := sha256.Sum256([]byte("contract v1"))
	id := hex.EncodeToString(sum[:])
	tests := []struct {
		name, method, path, body string
		want                     int
		wantBody                 string
	}{
		{"store", "POST", "/v1/documents", "contract v1", 201, id},
		{"store again is one copy", "POST", "/v1/documents", "contract v1", 200, id},
		{"read back", "GET", "/v1/documents/" + id, "", 200, "contract v1"},
		{"too large", "POST", "/v1/documents", strings.Repeat("x", 17), 413, "limited to 16 bytes"},
		{"bad id", "GET", "/v1/documents/../../etc", "", 404, ""},
		{"bad id hex", "GET", "/v1/documents/" + strings.Repeat("z", 64), "", 400, "SHA-256"},
		{"unknown", "GET", "/v1/documents/" + strings.Repeat("0", 64), "", 404, "no document"},
		{"delete", "DELETE", "/v1/documents/" + id, "", 204, ""},
		{"gone", "GET", "/v1/documents/" + id, "", 404, "no document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.want || !strings.Contains(string(b), tt.wantBody) {
				t.Fatalf("%s %s = %d %s, want %d containing %q", tt.method, tt.path, res.StatusCode, b, tt.want, tt.wantBody)
			}
		})
	}
	// The oversized upload left nothing behind: only the tmp dir remains.
	left, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, id[:2], id)); !os.IsNotExist(err) {
		t.Errorf("deleted document still on disk: %v", err)
	}
}
