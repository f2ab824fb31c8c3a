// Package docstore is the document storage role (crm docstore, seed 001):
// documents kept apart from the database, on the host's disk, addressed by
// the SHA-256 of their content. Storing the same bytes twice stores them
// once, and a reader can check what it got against the address.
package docstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Store keeps documents under one directory: DIR/ab/abcdef... .
type Store struct {
	dir     string
	maxSize int64
	stored  *prometheus.CounterVec
}

// New returns a store in dir (created if missing) that refuses documents
// larger than maxSize bytes.
func New(dir string, maxSize int64, reg prometheus.Registerer) (*Store, error) {
	if maxSize <= 0 {
		return nil, fmt.Errorf("--max-size must be above 0, got %d", maxSize)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("document directory: %w", err)
	}
	s := &Store{dir: dir, maxSize: maxSize, stored: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_docstore_bytes_total", Help: "Document bytes received, by outcome (new, duplicate)."}, []string{"outcome"})}
	if reg != nil {
		reg.MustRegister(s.stored)
	}
	return s, nil
}

var addrRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Handler serves POST /v1/documents, GET|HEAD|DELETE /v1/documents/{id}.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/documents", s.put)
	mux.HandleFunc("GET /v1/documents/{id}", s.get)
	mux.HandleFunc("DELETE /v1/documents/{id}", s.remove)
	return mux
}

// Ready fails when the directory cannot take a new file (disk full, gone).
func (s *Store) Ready(context.Context) error {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "ready-")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func (s *Store) path(id string) string { return filepath.Join(s.dir, id[:2], id) }

// put streams the body to a temporary file while hashing it, then renames
// it to its address: a reader never sees a half-written document.
func (s *Store) put(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.maxSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("documents are limited to %d bytes", s.maxSize))
		return
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), http.MaxBytesReader(w, r.Body, s.maxSize))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("documents are limited to %d bytes", s.maxSize))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the document: "+err.Error())
		return
	}
	id := hex.EncodeToString(h.Sum(nil))
	status, outcome := http.StatusCreated, "new"
	if _, err := os.Stat(s.path(id)); err == nil {
		status, outcome = http.StatusOK, "duplicate"
	} else if err := s.commit(tmp, id); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.stored.WithLabelValues(outcome).Add(float64(n))
	w.Header().Set("Location", "/v1/documents/"+id)
	writeJSON(w, status, map[string]any{"id": id, "size": n})
}

func (s *Store) commit(tmp *os.File, id string) error {
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path(id)), 0o700); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path(id))
}

func (s *Store) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !addrRE.MatchString(id) {
		writeError(w, http.StatusBadRequest, "a document id is 64 lowercase hex digits (its SHA-256)")
		return
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, os.ErrNotExist) {
		writeError(w, http.StatusNotFound, "no document "+id)
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.Header().Set("ETag", `"`+id+`"`)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable") // the address is the content
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, f)
}

func (s *Store) remove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !addrRE.MatchString(id) {
		writeError(w, http.StatusBadRequest, "a document id is 64 lowercase hex digits (its SHA-256)")
		return
	}
	if err := os.Remove(s.path(id)); errors.Is(err, os.ErrNotExist) {
		writeError(w, http.StatusNotFound, "no document "+id)
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
