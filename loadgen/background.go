package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmplan/crmplan"
)

// ETLJobs is the background class verify runs beside k6 when the stack has
// an ETL tier (seed 000's migration server): CSV migration jobs submitted
// to the ETL hosts' inboxes (POST /v1/jobs) at a steady pace, as a Talend
// job would drop them, loaded by the ETL host into the primary. The CPU
// they cost is measured alone, for Window after the idle window and
// before k6 starts, so that calibrate can leave it out of the requests'
// demand and the prediction here can add it back as a class of its own.
type ETLJobs struct {
	Every  time.Duration // one job to every ETL host this often; 0: no jobs
	Rows   int           // contacts per job
	Window time.Duration // measured alone before k6 starts (at least a second)
}

// BackgroundClass is what a background class did during a run.
type BackgroundClass struct {
	Class string `json:"class"`
	// Rate is jobs submitted a second over the run, Rows contacts each.
	Rate      float64 `json:"rate"`
	Rows      int     `json:"rows"`
	Submitted int     `json:"submitted"`
	Failed    int     `json:"failed"` // refused by the ETL host, or not submitted
	// Done and JobErrors are the run's jobs by outcome on the ETL hosts at
	// the end of the run (the rest still queued or loading).
	Done      int `json:"done"`
	JobErrors int `json:"job_errors"`
	// CPU is, by role, the cores the class used while it ran alone, above
	// the tiers' idle CPU.
	CPU map[string]float64 `json:"cpu,omitempty"`
}

// etlDriver submits the jobs. It signs in on the web tier and makes an API
// token for the ETL hosts (they accept nothing else), revoked at the end.
type etlDriver struct {
	t      Target
	jobs   ETLJobs
	runID  string
	client *http.Client

	session *http.Cookie
	token   string
	tokenID int64

	mu        sync.Mutex
	start     time.Time
	submitted int
	failed    int
	firstErr  string
}

// api calls the CRM's API on the web tier with the driver's session.
func (d *etlDriver) api(ctx context.Context, method, path string, body any, out any) error {
	b, _ := json.Marshal(body) // "null" for none, which no call here sends a body for
	if body == nil {
		b = nil
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(d.t.URL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.session != nil {
		req.AddCookie(d.session)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if path == "/api/v1/session" {
		for _, c := range resp.Cookies() {
			if c.Name == "crm_session" {
				d.session = c
			}
		}
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// startETL signs in, makes the token and starts submitting; stop ends the
// jobs, counts their outcomes on the ETL hosts, revokes the token and
// returns the class (without its CPU, which the scraper has).
func (o Options) startETL(ctx context.Context) (stop func() *BackgroundClass, err error) {
	client, err := o.Target.client(10 * time.Second)
	if err != nil {
		return nil, err
	}
	runID := fmt.Sprintf("%d", time.Now().UnixNano())
	d := &etlDriver{t: o.Target, jobs: o.ETL, runID: runID, client: client}
	if err := d.api(ctx, http.MethodPost, "/api/v1/session", map[string]string{"email": o.Target.Email, "password": o.Target.Password}, nil); err != nil || d.session == nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "ETL jobs: sign-in as %s: %v", o.Target.Email, err).Try("crmplan status   # is the stack running?")
	}
	var tok struct {
		Token string `json:"token"`
		ID    int64  `json:"id"`
	}
	if err := d.api(ctx, http.MethodPost, "/api/v1/tokens", map[string]any{"name": "crmplan-verify-etl-" + runID, "expires_in": 3600}, &tok); err != nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "ETL jobs: an API token for the ETL hosts: %w", err)
	}
	d.token, d.tokenID = tok.Token, tok.ID
	jobCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.start = time.Now()
	go func() { defer close(done); d.run(jobCtx) }()
	return func() *BackgroundClass {
		cancel()
		<-done
		elapsed := time.Since(d.start).Seconds()
		bc := &BackgroundClass{Class: "etl", Rows: d.jobs.Rows, Submitted: d.submitted, Failed: d.failed}
		if elapsed > 0 {
			bc.Rate = float64(d.submitted) / elapsed
		}
		bc.Done, bc.JobErrors = d.outcomes(ctx)
		if d.firstErr != "" {
			o.logf("ETL jobs: %d of %d failed; the first: %s", d.failed, d.submitted+d.failed, d.firstErr)
		}
		// Revoking is tidiness: the token expires by itself within the hour.
		_ = d.api(context.WithoutCancel(ctx), http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", d.tokenID), nil, nil)
		return bc
	}, nil
}

// run submits one job to every ETL host each Every until ctx ends.
func (d *etlDriver) run(ctx context.Context) {
	tick := time.NewTicker(d.jobs.Every)
	defer tick.Stop()
	for n := 0; ; n++ {
		for h, base := range d.t.ETL {
			d.submit(ctx, base, fmt.Sprintf("crmplan-verify-%s-%d-%d.csv", d.runID, n, h))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (d *etlDriver) submit(ctx context.Context, base, name string) {
	var b strings.Builder
	b.WriteString("first_name,last_name,email,title\n")
	stem := strings.TrimSuffix(name, ".csv")
	for i := range d.jobs.Rows {
		fmt.Fprintf(&b, "Etl,Load%d,%s-%d@etl.example,Migrated contact\n", i, stem, i)
	}
	// Not cancelled by stop: a job the host may already have taken must
	// be counted as submitted, or the host's count (outcomes) exceeds
	// ours. The client's timeout bounds it.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, strings.TrimSuffix(base, "/")+"/v1/jobs?name="+name, strings.NewReader(b.String()))
	if err != nil {
		d.fail(err.Error())
		return
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			d.fail(err.Error())
		}
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		d.fail(fmt.Sprintf("POST %s/v1/jobs: %s", base, resp.Status))
		return
	}
	d.mu.Lock()
	d.submitted++
	d.mu.Unlock()
}

func (d *etlDriver) fail(msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed++
	if d.firstErr == "" {
		d.firstErr = msg
	}
}

// outcomes counts this run's jobs done and failed on the ETL hosts.
func (d *etlDriver) outcomes(ctx context.Context) (done, failed int) {
	for _, base := range d.t.ETL {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/v1/jobs", nil)
		if err != nil {
			continue
		}
		req.Header.Set("Authorization", "Bearer "+d.token)
		resp, err := d.client.Do(req)
		if err != nil {
			continue
		}
		var list struct {
			Jobs []struct {
				File  string `json:"file"`
				State string `json:"state"`
			} `json:"jobs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for _, j := range list.Jobs {
			// A finished job's file is renamed with its time in front.
			if !strings.Contains(j.File, "crmplan-verify-"+d.runID+"-") {
				continue
			}
			switch j.State {
			case "done":
				done++
			case "failed":
				failed++
			}
		}
	}
	return done, failed
}
