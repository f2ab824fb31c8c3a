package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeETL is the CRM's web tier (sign-in, tokens) and an ETL host in one:
// it keeps the jobs it was sent, lists them as done, and burns CPU on its
// /metrics while jobs come in.
type fakeETL struct {
	cpu *cpuClock

	mu      sync.Mutex
	jobs    []string
	rows    int
	revoked bool
	badAuth int
}

func (f *fakeETL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == "/metrics":
		fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", f.cpu.read())
	case r.Method == "POST" && r.URL.Path == "/api/v1/session":
		http.SetCookie(w, &http.Cookie{Name: "crm_session", Value: "s1"})
	case r.Method == "POST" && r.URL.Path == "/api/v1/tokens":
		if c, err := r.Cookie("crm_session"); err != nil || c.Value != "s1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"token":"crm_t1","id":7}`)
	case r.Method == "DELETE" && r.URL.Path == "/api/v1/tokens/7":
		f.revoked = true
	case r.URL.Path == "/v1/jobs":
		if r.Header.Get("Authorization") != "Bearer crm_t1" {
			f.badAuth++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == "GET" {
			var list []map[string]string
			for _, j := range f.jobs {
				// As the importer names them: the time it finished in front.
				list = append(list, map[string]string{"file": "20261206T141906Z-" + j, "state": "done"})
			}
			list = append(list, map[string]string{"file": "someone-else.csv", "state": "failed"})
			_ = json.NewEncoder(w).Encode(map[string]any{"jobs": list})
			return
		}
		body, _ := io.ReadAll(r.Body)
		f.rows = strings.Count(string(body), "\n") - 1 // less the header
		f.jobs = append(f.jobs, r.URL.Query().Get("name"))
		f.cpu.set(0.5) // idle 0.2 + 0.3 for the jobs
		w.WriteHeader(http.StatusAccepted)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// TestETLBackground: verify's ETL jobs reach the ETL host with a token made
// for them (and revoked after), their CPU alone is told apart from the
// idle CPU before them and from the load after them, and the run's
// background class carries the rate, the outcomes and that CPU.
func TestETLBackground(t *testing.T) {
	var cpu cpuClock
	cpu.set(0.2)
	f := &fakeETL{cpu: &cpu}
	srv := httptest.NewServer(f)
	defer srv.Close()
	o := Options{IdleWindow: time.Second, ScrapeInterval: 200 * time.Millisecond,
		ETL: ETLJobs{Every: 200 * time.Millisecond, Rows: 3, Window: time.Second},
		Target: Target{URL: srv.URL, Email: "load@example.com", Password: "pw", ETL: []string{srv.URL},
			Hosts: []Host{{Name: "etl-1", Role: "etl", MetricsURL: srv.URL + "/metrics", Cores: 1}}}}
	sc, stop := o.startScraper(context.Background())
	cpu.set(1.5) // the load begins
	from := time.Now()
	time.Sleep(1200 * time.Millisecond)
	to := time.Now()
	stop()
	tiers, _ := sc.tiers(from, to)
	bg, why := sc.background(tiers)
	if len(tiers) != 1 || len(bg) != 1 || why != "" {
		t.Fatalf("tiers %+v, background %+v (%s)", tiers, bg, why)
	}
	if got := tiers[0]; math.Abs(got.IdleCPU-0.2) > 0.05 || math.Abs(got.BackgroundCPU-0.3) > 0.05 {
		t.Errorf("idle CPU %.3f, background CPU %.3f; want 0.2 and 0.3", got.IdleCPU, got.BackgroundCPU)
	}
	b := bg[0]
	f.mu.Lock()
	defer f.mu.Unlock()
	// About 2.2 s of jobs at 5 a second, on a machine that may be slow.
	if b.Class != "etl" || b.Submitted < 5 || b.Submitted != len(f.jobs) || b.Failed != 0 || b.Done != b.Submitted || b.JobErrors != 0 {
		t.Errorf("class %+v, the host got %d jobs", b, len(f.jobs))
	}
	if b.Rate < 1 || b.Rate > 6 || b.Rows != 3 || f.rows != 3 || !f.revoked || f.badAuth != 0 {
		t.Errorf("rate %.2f, rows %d (sent %d), token revoked %v, unauthenticated calls %d", b.Rate, b.Rows, f.rows, f.revoked, f.badAuth)
	}
	if math.Abs(b.CPU["etl"]-0.3) > 0.05 {
		t.Errorf("class CPU %v, want etl 0.3", b.CPU)
	}
}

// Without ETL hosts, or with the jobs off, nothing is submitted and the
// run has no background class; a web tier that refuses the load user
// leaves the reason in the result instead of failing the run.
func TestETLBackgroundOff(t *testing.T) {
	var cpu cpuClock
	f := &fakeETL{cpu: &cpu}
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, o := range []Options{
		{ETL: ETLJobs{Every: 100 * time.Millisecond, Rows: 1}, Target: Target{URL: srv.URL}},
		{ETL: ETLJobs{Rows: 1}, Target: Target{URL: srv.URL, ETL: []string{srv.URL}}},
	} {
		sc, stop := o.startScraper(context.Background())
		time.Sleep(300 * time.Millisecond)
		stop()
		if bg, why := sc.background(nil); bg != nil || why != "" {
			t.Errorf("%+v: background %+v (%s)", o.ETL, bg, why)
		}
	}
	if len(f.jobs) != 0 {
		t.Errorf("jobs submitted: %v", f.jobs)
	}
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer refused.Close()
	o := Options{ETL: ETLJobs{Every: 100 * time.Millisecond, Rows: 1}, Target: Target{URL: refused.URL, Email: "x@example.com", ETL: []string{refused.URL}}}
	sc, stop := o.startScraper(context.Background())
	stop()
	if bg, why := sc.background(nil); bg != nil || !strings.Contains(why, "sign-in as x@example.com") {
		t.Errorf("refused: background %+v, why %q", bg, why)
	}
}
