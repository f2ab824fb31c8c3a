// Package web is the presentation tier: it serves the UI's built assets and
// load-balances /api over the api servers (see Balancer).
package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Handler serves /api/ through the balancer and everything else from ui,
// falling back to index.html for the UI's client-side routes.
func Handler(b *Balancer, ui fs.FS) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", b)
	mux.Handle("/", uiHandler(ui))
	return securityHeaders(mux)
}

// uiHandler serves the UI's files with the validators and cache headers
// Apache gives static content: an ETag per file (the embedded files have
// no modification time, so without it a browser could only fetch them
// whole again), which http.ServeContent answers If-None-Match with 304
// for; hashed assets are immutable for a year, the rest (index.html,
// which names the current assets) revalidated on every use.
func uiHandler(ui fs.FS) http.Handler {
	files := http.FileServerFS(ui)
	etags := fileETags(ui)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if _, err := fs.Stat(ui, name); errors.Is(err, fs.ErrNotExist) && !strings.HasPrefix(name, "assets/") {
			r = r.Clone(r.Context())
			r.URL.Path, name = "/", "index.html"
		}
		if strings.HasPrefix(name, "assets/") {
			// Vite puts a content hash into asset names.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		if tag, ok := etags[name]; ok {
			w.Header().Set("ETag", tag)
		}
		files.ServeHTTP(w, r)
	})
}

// fileETags is a strong ETag for every file of ui, from its content: the
// UI is embedded in the binary, so it is read once, at start.
func fileETags(ui fs.FS) map[string]string {
	tags := map[string]string{}
	_ = fs.WalkDir(ui, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(ui, name)
		if err != nil {
			return nil // served without a validator, as before
		}
		sum := sha256.Sum256(b)
		tags[name] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return tags
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		}
		next.ServeHTTP(w, r)
	})
}
