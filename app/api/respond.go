package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"github.com/crmplan/crmplan/app"
)

// Body limits: JSON requests are small; CSV imports are not.
const (
	maxJSONBody = 1 << 20
	maxCSVBody  = 32 << 20
	maxCSVRows  = 200_000
)

var statusOf = map[string]int{
	app.EINVALID:      http.StatusBadRequest,
	app.EUNAUTHORIZED: http.StatusUnauthorized,
	app.EFORBIDDEN:    http.StatusForbidden,
	app.ENOTFOUND:     http.StatusNotFound,
	app.ECONFLICT:     http.StatusConflict,
	app.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	app.ETOOMANY:      http.StatusTooManyRequests,
	app.EUNAVAILABLE:  http.StatusServiceUnavailable,
	app.EINTERNAL:     http.StatusInternalServerError,
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// writeError answers with the JSON error of the API contract. Internal
// errors are logged and their details kept from the client.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var body errorBody
	var e *app.Error
	if errors.As(err, &e) && e.Code != app.EINTERNAL {
		body.Error.Code, body.Error.Message, body.Error.Field = e.Code, e.Message, e.Field
	} else {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error.Code, body.Error.Message = app.EINTERNAL, "internal error; the server log has the details"
	}
	if body.Error.Code == app.EUNAVAILABLE {
		log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, statusOf[body.Error.Code], body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeRaw answers with JSON the database produced.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readBody reads at most limit bytes of a body of the given media type.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, mediaType string) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" || mediaType != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != mediaType {
			return nil, app.Errorf(app.EINVALID, "Content-Type must be %s, got %q", mediaType, ct)
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, app.Errorf(app.ETOOLARGE, "request body is over %d bytes", limit)
	}
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "reading request body: %v", err)
	}
	return b, nil
}

// pathID parses the {id} of a path.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, app.Errorf(app.EINVALID, "must be a positive integer id, got %q", r.PathValue("id")).In("id")
	}
	return id, nil
}

// decodeStrict decodes a small JSON object into v, rejecting unknown fields
// and trailing data.
func decodeStrict(b []byte, v any) error {
	if _, err := app.DecodeObject(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return app.Errorf(app.EINVALID, "request body: %v", err)
	}
	return nil
}
