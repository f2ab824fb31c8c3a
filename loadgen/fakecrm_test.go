package loadgen

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fakeCRM speaks the part of the CRM REST API contract the generated script
// uses, on loopback, so loadgen's own code (script, k6 run, parsing,
// scraping) is tested with real k6 before and without the real CRM. It is the
// CRM that is faked here, never k6 or loadgen. The real CRM is driven by the
// end-to-end test in cmd/crmplan.
type fakeCRM struct {
	srv   *httptest.Server
	delay time.Duration // added to every API request
	// serial makes the fake one server with one core: requests wait for
	// each other, so it saturates at 1/delay requests per second.
	serial   bool
	mu       sync.Mutex
	requests atomic.Int64
	signIns  atomic.Int64
	tokenTTL atomic.Int64 // expires_in of the last token asked for
	revoked  atomic.Int64 // DELETEs of the token it handed out
	byRoute  map[string]*atomic.Int64
}

const fakePassword = "load-test-secret"

func newFakeCRM(t testing.TB, delay time.Duration) *fakeCRM {
	t.Helper()
	f := &fakeCRM{delay: delay, byRoute: map[string]*atomic.Int64{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_http_requests_total", Help: "requests"}, []string{"route", "code"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crm_http_request_duration_seconds", Help: "latency"}, []string{"route"})
	reg.MustRegister(reqs, dur)

	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) {
		n := new(atomic.Int64)
		f.byRoute[pattern] = n
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			n.Add(1)
			f.requests.Add(1)
			if f.serial {
				f.mu.Lock()
				time.Sleep(f.delay)
				f.mu.Unlock()
			} else {
				time.Sleep(f.delay)
			}
			rec := &statusRecorder{ResponseWriter: w, code: 200}
			h(rec, r)
			reqs.WithLabelValues(pattern, fmt.Sprint(rec.code)).Inc()
			dur.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
		})
	}
	f.apiRoutes(route)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Listener = ln
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// apiRoutes registers the API the generated script calls, through route,
// which counts and times each request as the real CRM's metrics do.
func (f *fakeCRM) apiRoutes(route func(string, http.HandlerFunc)) {
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, err := r.Cookie("crm_session")
			bearer := r.Header.Get("Authorization") == "Bearer tok-1"
			if !bearer && (err != nil || c.Value != "sess-1") {
				writeJSON(w, 401, map[string]any{"error": map[string]any{"code": "unauthorized", "message": "sign in"}})
				return
			}
			h(w, r)
		}
	}
	items := func(n int) map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"id": i + 1, "name": fmt.Sprintf("record %d", i+1)}
		}
		return map[string]any{"items": out, "next": ""}
	}
	route("POST /api/v1/session", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Email, Password string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Password != fakePassword {
			writeJSON(w, 401, map[string]any{"error": map[string]any{"code": "unauthorized", "message": "wrong e-mail or password"}})
			return
		}
		f.signIns.Add(1)
		http.SetCookie(w, &http.Cookie{Name: "crm_session", Value: "sess-1", HttpOnly: true, Path: "/"})
		writeJSON(w, 200, map[string]any{"user": map[string]any{"email": body.Email}})
	})
	route("DELETE /api/v1/session", authed(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	route("POST /api/v1/tokens", authed(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ExpiresIn int64 `json:"expires_in"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.tokenTTL.Store(body.ExpiresIn)
		writeJSON(w, 201, map[string]any{"id": 41, "token": "tok-1"})
	}))
	route("DELETE /api/v1/tokens/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "41" {
			f.revoked.Add(1)
		}
		w.WriteHeader(204)
	}))
	for _, coll := range []string{"accounts", "contacts", "opportunities", "activities"} {
		route("GET /api/v1/"+coll, authed(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, items(25)) }))
		route("GET /api/v1/"+coll+"/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]any{"id": r.PathValue("id")})
		}))
		route("POST /api/v1/"+coll, authed(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, map[string]any{"id": 7}) }))
		route("PATCH /api/v1/"+coll+"/{id}", authed(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"id": 7}) }))
	}
	route("GET /api/v1/reports/pipeline", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"stages": []any{}})
	}))
	route("GET /api/v1/reports/activities", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"days": []any{}})
	}))
	route("POST /api/v1/import/contacts", authed(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "invalid", "message": "want text/csv"}})
			return
		}
		writeJSON(w, 200, map[string]any{"imported": 5})
	}))
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
