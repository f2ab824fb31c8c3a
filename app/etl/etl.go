// Package etl is the data migration role (crm etl, seed 000's ETL
// server): CSV migration jobs dropped into an inbox (by file transfer or
// POST /v1/jobs) are loaded into the primary by the worker's importer, and
// their outcome is listed per file. The loading itself is app/worker's:
// one importer, two roles that schedule it differently.
package etl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan/app"
)

// Inbox is the directory jobs arrive in; the importer moves them on to
// processing/, done/ or failed/ (with a .error file beside).
type Inbox struct {
	Dir     string
	MaxSize int64 // largest CSV in bytes
	// Authenticate returns who holds an API token of the CRM (the store's
	// TokenPrincipal). Every call needs one: a job's contacts belong to
	// whoever submitted it, never to an import owner anyone could use.
	// Nil refuses every call.
	Authenticate func(ctx context.Context, token string) (*app.Principal, error)
}

// OwnerSuffix names the file beside a job (NAME.csv.owner) that holds the
// id of the user who submitted it; the importer makes them the contacts'
// owner.
const OwnerSuffix = ".owner"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}\.csv$`)

// Handler serves POST /v1/jobs?name=X.csv (the CSV as body) and GET /v1/jobs.
func (in Inbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", in.authenticated(in.submit))
	mux.HandleFunc("GET /v1/jobs", in.authenticated(in.list))
	return mux
}

// authenticated serves next to callers with a valid API token only.
func (in Inbox) authenticated(next func(http.ResponseWriter, *http.Request, *app.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var p *app.Principal
		var err error
		if ok && token != "" && in.Authenticate != nil {
			p, err = in.Authenticate(r.Context(), token)
		}
		if p == nil || err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crm"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send a CRM API token: Authorization: Bearer crm_... (create one in the CRM under /api/v1/tokens)"})
			return
		}
		next(w, r, p)
	}
}

// submit writes the CSV beside the inbox, then renames it in: the importer
// never picks up half a file.
func (in Inbox) submit(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	name := r.URL.Query().Get("name")
	if !nameRE.MatchString(name) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name must be a file name ending in .csv, like contacts-2026.csv"})
		return
	}
	tmp, err := os.CreateTemp(in.Dir, ".upload-*")
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, http.MaxBytesReader(w, r.Body, in.MaxSize))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("upload: %v (limit %d bytes)", err, in.MaxSize)})
		return
	}
	if _, err := os.Stat(filepath.Join(in.Dir, name)); err == nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": name + " is already waiting in the inbox"})
		return
	}
	// The owner goes in first: the importer never sees the job without it.
	if err := renameio.WriteFile(filepath.Join(in.Dir, name+OwnerSuffix), []byte(strconv.FormatInt(p.User.ID, 10)+"\n"), 0o600); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if err := os.Rename(tmp.Name(), filepath.Join(in.Dir, name)); err != nil {
		_ = os.Remove(filepath.Join(in.Dir, name+OwnerSuffix))
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"name": name, "state": "queued"})
}

// Job is one CSV and where it stands.
type Job struct {
	File  string `json:"file"`
	State string `json:"state"` // queued, processing, done, failed
	Error string `json:"error,omitempty"`
}

// Jobs lists the inbox's files by state.
func (in Inbox) Jobs() ([]Job, error) {
	var out []Job
	for _, state := range []string{"queued", "processing", "done", "failed"} {
		dir := in.Dir
		if state != "queued" {
			dir = filepath.Join(in.Dir, state)
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			j := Job{File: filepath.Base(f), State: state}
			if b, err := os.ReadFile(f + ".error"); err == nil {
				j.Error = strings.TrimSpace(string(b))
			}
			out = append(out, j)
		}
	}
	return out, nil
}

func (in Inbox) list(w http.ResponseWriter, r *http.Request, _ *app.Principal) {
	jobs, err := in.Jobs()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
