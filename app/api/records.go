package api

import (
	"net/http"
	"strings"

	"github.com/crmplan/crmplan/app"
)

// records serves one resource.
type records struct {
	api *API
	r   app.Resource
}

func (h records) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, h.api.log, err)
}

func (h records) list(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	q, err := h.r.ParseList(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.api.store.List(r.Context(), p, h.r, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h records) get(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := h.api.store.Get(r.Context(), p, h.r, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, b)
}

// stageHistory serves a deal's stage history.
func (a *API) stageHistory(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	b, err := a.store.StageHistory(r.Context(), p, id)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeRaw(w, http.StatusOK, b)
}

func (h records) create(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	b, err := readBody(w, r, maxJSONBody, "application/json")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.r.DecodeCreate(b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, ok := c.Get("owner_id"); !ok {
		c.Set("owner_id", p.User.ID)
	}
	if err := checkOwner(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.api.store.CheckRefs(r.Context(), p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.api.store.Create(r.Context(), p, h.r, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, http.StatusCreated, rec)
}

func (h records) update(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := readBody(w, r, maxJSONBody, "application/json")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.r.DecodePatch(b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkOwner(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.api.store.CheckRefs(r.Context(), p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.api.store.Update(r.Context(), p, h.r, id, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, rec)
}

func (h records) delete(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.api.store.Delete(r.Context(), p, h.r, id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkOwner refuses to give a record to a user outside p's team.
func checkOwner(p *app.Principal, c app.Changes) error {
	v, ok := c.Get("owner_id")
	if !ok {
		return nil
	}
	owner, _ := v.(int64)
	if v == nil {
		return app.Errorf(app.EINVALID, "may not be null").In("owner_id")
	}
	if !p.MayOwn(owner) {
		return app.Errorf(app.EFORBIDDEN, "you may only assign records to yourself or your team").In("owner_id")
	}
	return nil
}

func (a *API) pipelineReport(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	rep, err := a.store.PipelineReport(r.Context(), p, a.cfg.ReportMaxAge)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *API) activityReport(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	rep, err := a.store.ActivityReport(r.Context(), p)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *API) importContacts(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	body := http.MaxBytesReader(w, r.Body, maxCSVBody)
	if mt := r.Header.Get("Content-Type"); !hasMediaType(mt, "text/csv") {
		writeError(w, r, a.log, app.Errorf(app.EINVALID, "Content-Type must be text/csv, got %q", mt))
		return
	}
	cols, rows, err := app.ParseContactsCSV(body, maxCSVRows)
	if err != nil {
		if isTooLarge(err) {
			err = app.Errorf(app.ETOOLARGE, "CSV is over %d bytes; split it", maxCSVBody)
		}
		writeError(w, r, a.log, err)
		return
	}
	if err := a.store.CheckImportRefs(r.Context(), p, cols, rows); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	n, err := a.store.ImportContacts(r.Context(), p.User.ID, cols, rows)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"imported": n})
}

// exportContacts sends the contacts the list's search and filters match
// (?q=, ?account_id=, ?owner_id=), all of them: a file has no pages.
func (a *API) exportContacts(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	contacts, _ := app.ResourceNamed("contacts")
	v := r.URL.Query()
	for _, k := range []string{"after", "limit", "total"} {
		if v.Has(k) {
			writeError(w, r, a.log, app.Errorf(app.EINVALID, "the export has no pages; filter it with q, account_id or owner_id").In(k))
			return
		}
	}
	if v.Has("fields") {
		writeError(w, r, a.log, app.Errorf(app.EINVALID, "the export's columns are fixed (%s); fields narrows a list's items",
			strings.Join(app.ContactCSVColumns, ", ")).In("fields"))
		return
	}
	q, err := contacts.ParseList(v)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := &lazyCSV{w: w}
	if _, err := a.store.ExportContactsMatching(r.Context(), p, q, out); err != nil {
		if !out.started {
			writeError(w, r, a.log, err)
			return
		}
		// Rows are out already: the client sees a truncated file, the log why.
		a.log.Error("contacts export", "err", err)
	}
}

// lazyCSV sends the CSV headers with the first bytes, so that an export
// failing before any row can still answer with a JSON error.
type lazyCSV struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyCSV) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		h := l.w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="contacts.csv"`)
		h.Set("Cache-Control", "no-store")
	}
	return l.w.Write(b)
}
