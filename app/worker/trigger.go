package worker

import (
	"encoding/json"
	"net/http"
)

// Handler serves POST /v1/jobs/{job}: run the report or export job now,
// for crm scheduler. Import is left to the inbox poll, which already runs
// it as files arrive; running it from two places could import a file twice.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs/{job}", func(rw http.ResponseWriter, r *http.Request) {
		var err error
		var n int64
		switch job := r.PathValue("job"); job {
		case "report":
			err = w.Report(r.Context())
		case "export":
			n, err = w.Export(r.Context())
		default:
			writeJSON(rw, http.StatusNotFound, map[string]string{"error": "jobs are report and export, got " + job})
			return
		}
		w.record(r.PathValue("job"), err)
		if err != nil {
			writeJSON(rw, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(rw, http.StatusOK, map[string]any{"job": r.PathValue("job"), "rows": n})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
