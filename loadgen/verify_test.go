package loadgen

import (
	"bytes"
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

var testMix = sizing.Mix{
	sizing.ClassList: 0.4, sizing.ClassView: 0.3, sizing.ClassWrite: 0.15,
	sizing.ClassReport: 0.1, sizing.ClassIntegration: 0.05,
}

func fakeTarget(f *fakeCRM) Target {
	return Target{
		URL: f.srv.URL, Email: "admin@example.com", Password: fakePassword,
		Hosts: []Host{{Name: "web-1", Role: "web", MetricsURL: f.srv.URL + "/metrics", Cores: 2}},
	}
}

// TestVerifyFakeCRM runs real k6 against the fake CRM: the rate holds, every
// class is exercised, the host is scraped and the result is saved.
func TestVerifyFakeCRM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 for several seconds")
	}
	f := newFakeCRM(t, 2*time.Millisecond)
	dir := t.TempDir()
	var log bytes.Buffer
	o := Options{
		Stack: "test",
		// The SLO is loose on purpose: this test is about the mechanics, and
		// the machine it runs on is shared with compilers and fuzzers.
		Scenario: Scenario{Rate: 50, RampUp: 2 * time.Second, Duration: 6 * time.Second, Mix: testMix,
			SLO: sizing.SLO{P95Ms: 5000, ErrorRate: 0.01}},
		Target: fakeTarget(f), K6: testK6(t), ResultsDir: dir, Log: &log,
		ScrapeInterval: 500 * time.Millisecond, SeriesStep: time.Second,
	}
	res, path, err := Verify(context.Background(), o)
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, log.String())
	}
	if want := 50.0 * 6; math.Abs(float64(res.Requests)-want) > 0.02*want {
		t.Errorf("steady requests = %d, want %g ± 2%%", res.Requests, want)
	}
	if math.Abs(res.AchievedRate-50)/50 > 0.02 {
		t.Errorf("achieved rate = %.2f, want 50 ± 2%%", res.AchievedRate)
	}
	if res.Dropped != 0 || res.Failed != 0 || !res.SLO.Passed {
		t.Errorf("dropped %d, failed %d, SLO %+v; want none and passed", res.Dropped, res.Failed, res.SLO)
	}
	// Every class of the mix: the fake serves no campaigns, which
	// TestApplyIsolated (cmd/crmplan) drives at a deployed marketing server.
	for c := range testMix {
		if res.ByClass[string(c)].Requests == 0 {
			t.Errorf("class %s: no requests", c)
		}
	}
	if res.Latency.P95Ms < 2 {
		t.Errorf("p95 %.2f ms is below the fake's 2 ms delay", res.Latency.P95Ms)
	}
	if len(res.Tiers) != 1 || res.Tiers[0].Throughput < 40 || res.Tiers[0].Utilization <= 0 {
		t.Errorf("tiers = %+v, want web at about 50 req/s with some CPU", res.Tiers)
	}
	if got := f.signIns.Load(); got != 2 { // the probe and k6's setup
		t.Errorf("sign-ins = %d, want 2", got)
	}
	// The run's token lives the run plus a margin, and is revoked at its end.
	if ttl := f.tokenTTL.Load(); ttl != int64((8*time.Second+tokenMargin)/time.Second) {
		t.Errorf("the run's token asked for expires_in %d s, want the run (8 s) plus %v", ttl, tokenMargin)
	}
	if got := f.revoked.Load(); got != 1 {
		t.Errorf("the run's token was revoked %d times, want once", got)
	}
	saved, err := LoadResult(filepath.Join(dir, "latest.json"))
	if err != nil || saved.Requests != res.Requests || path == "" {
		t.Errorf("latest.json: %v, %+v", err, saved.Requests)
	}
	if _, err := os.Stat(filepath.Join(dir, res.StartedAt.Format("20060102T150405Z"), "summary.json")); err != nil {
		t.Errorf("summary kept: %v", err)
	}
}

// TestVerifyImpossibleSLO: a p95 below what the target can do fails with ESLO
// and still saves the result; k6 judges every class too, against its own
// objective or the overall one, and the verdict names the class that broke
// it while the overall p95 held.
func TestVerifyImpossibleSLO(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 for several seconds")
	}
	tests := []struct {
		name       string
		slo        sizing.SLO
		wantFailed []string
		wantOnly   string // the one violation, when only one
	}{
		{"overall p95", sizing.SLO{P95Ms: 1, ErrorRate: 0.01}, []string{"integration", "list", "report", "view", "write"}, ""},
		{"one class's own p95", sizing.SLO{P95Ms: 10000, ErrorRate: 0.01, Classes: map[sizing.Class]sizing.ClassSLO{sizing.ClassReport: {P95Ms: 1}}},
			[]string{"report"}, "http_req_duration{scenario:steady,class:report}: p(95)<1 crossed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCRM(t, 5*time.Millisecond)
			dir := t.TempDir()
			o := Options{
				Scenario: Scenario{Rate: 20, Duration: 2 * time.Second, Mix: testMix, SLO: tt.slo},
				Target:   fakeTarget(f), K6: testK6(t), ResultsDir: dir,
			}
			res, _, err := Verify(context.Background(), o)
			if crmplan.ErrorCode(err) != crmplan.ESLO {
				t.Fatalf("err = %v, want ESLO", err)
			}
			if got := res.SLO.FailedClasses(); res.SLO.Passed || !reflect.DeepEqual(got, tt.wantFailed) {
				t.Errorf("failed classes %v (SLO %+v), want %v", got, res.SLO, tt.wantFailed)
			}
			if tt.wantOnly != "" && (len(res.SLO.Violations) != 1 || !strings.HasPrefix(res.SLO.Violations[0], tt.wantOnly)) {
				t.Errorf("violations %q, want only %q", res.SLO.Violations, tt.wantOnly)
			}
			if v := res.SLO.Classes["report"]; v.Requests == 0 || !(v.MeasuredP95Ms > 0) || v.Own != (tt.slo.Classes != nil) {
				t.Errorf("report's verdict %+v: want its requests, measured p95 and whether the objective is its own", v)
			}
			if _, err := os.Stat(filepath.Join(dir, "latest.json")); err != nil {
				t.Errorf("result not saved: %v", err)
			}
		})
	}
}

// TestVerifyBadInput: nothing starts for input that cannot work.
func TestVerifyBadInput(t *testing.T) {
	f := newFakeCRM(t, 0)
	good := Scenario{Rate: 10, Duration: time.Second, Mix: testMix, SLO: sizing.SLO{P95Ms: 100, ErrorRate: 0.01}}
	tests := []struct {
		name     string
		scenario Scenario
		target   Target
		wantCode string
	}{
		{"zero rate", Scenario{Duration: time.Second, Mix: testMix, SLO: good.SLO}, fakeTarget(f), crmplan.EINVALID},
		{"unreachable", good, Target{URL: "http://127.0.0.1:1", Email: "a@b", Password: "x"}, crmplan.EINVALID},
		{"not a URL", good, Target{URL: "127.0.0.1:8080", Email: "a@b", Password: "x"}, crmplan.EINVALID},
		{"wrong password", good, Target{URL: f.srv.URL, Email: "a@b", Password: "nope"}, crmplan.EINVALID},
		{"no credentials", good, Target{URL: f.srv.URL}, crmplan.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, _, err := Verify(context.Background(), Options{Scenario: tt.scenario, Target: tt.target,
				K6: K6{Command: []string{"/nonexistent/k6"}}, ResultsDir: dir})
			if got := crmplan.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if crmplan.ErrorHint(err) == "" {
				t.Errorf("no Try hint in %v", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("wrote %d entries into the results dir", len(entries))
			}
		})
	}
}

var record = flag.Bool("record", false, "record k6 output fixtures into testdata/ from a real k6 run against the fake CRM")

// TestRecordFixtures records testdata/k6-summary.json and testdata/k6-points.json
// from a real k6 run; the parsing tests read them. Run with -record.
func TestRecordFixtures(t *testing.T) {
	if !*record {
		t.Skip("run with -record to re-record the k6 fixtures")
	}
	f := newFakeCRM(t, 3*time.Millisecond)
	dir := t.TempDir()
	o := Options{
		Scenario: Scenario{Rate: 20, RampUp: time.Second, Duration: 3 * time.Second, Mix: testMix,
			SLO: sizing.SLO{P95Ms: 4, ErrorRate: 0.01}},
		Target: fakeTarget(f), K6: testK6(t), ResultsDir: dir, KeepPoints: true,
		Now: func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) },
	}
	_, _, err := Verify(context.Background(), o)
	if err != nil && crmplan.ErrorCode(err) != crmplan.ESLO {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "20250102T030405Z")
	for from, to := range map[string]string{"summary.json": "k6-summary.json", "points.json": "k6-points.json"} {
		data, err := os.ReadFile(filepath.Join(run, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", to), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyEditedScript runs a user's edited copy of the generated script:
// here the mix is cut down to reports only, and the result shows it.
func TestVerifyEditedScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 for several seconds")
	}
	f := newFakeCRM(t, time.Millisecond)
	sc := Scenario{Rate: 20, Duration: 2 * time.Second, Mix: testMix, SLO: sizing.SLO{P95Ms: 5000, ErrorRate: 0.01}}
	script, err := Script(sc)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(script, []byte(`const MIX = {"integration":0.05,"list":0.4,"report":0.1,"view":0.3,"write":0.15};`),
		[]byte(`const MIX = {"report": 1};`), 1)
	if bytes.Equal(edited, script) {
		t.Fatal("the mix line was not found in the generated script")
	}
	res, _, err := Verify(context.Background(), Options{Scenario: sc, Script: edited, Target: fakeTarget(f), K6: testK6(t), ResultsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ByClass) != 1 || res.ByClass["report"].Requests != res.Requests || res.Requests < 39 {
		t.Errorf("by class %+v of %d requests; want reports only, about 40", res.ByClass, res.Requests)
	}
	if got := f.byRoute["GET /api/v1/reports/pipeline"].Load() + f.byRoute["GET /api/v1/reports/activities"].Load(); got != res.Requests {
		t.Errorf("the fake served %d report requests, k6 counted %d", got, res.Requests)
	}
}

// TestVerifyInterrupted: a run stopped early (Ctrl-C) still yields and saves
// the result of what ran, with an error saying it is partial.
func TestVerifyInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 for several seconds")
	}
	f := newFakeCRM(t, time.Millisecond)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	o := Options{
		Scenario: Scenario{Rate: 20, Duration: time.Minute, Mix: testMix, SLO: sizing.SLO{P95Ms: 5000, ErrorRate: 0.01}},
		Target:   fakeTarget(f), K6: testK6(t), ResultsDir: dir,
	}
	start := time.Now()
	res, path, err := Verify(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want one saying the run was interrupted", err)
	}
	if elapsed := time.Since(start); elapsed > 40*time.Second {
		t.Errorf("Verify took %s after the interrupt at 6 s", elapsed)
	}
	if res.Requests == 0 || path == "" {
		t.Errorf("no partial result: %d requests, path %q", res.Requests, path)
	}
	// Judged over what ran, not over the minute asked for.
	if res.AchievedRate < 18 || res.AchievedRate > 22 {
		t.Errorf("achieved %.2f req/s over %.1f s, want about 20", res.AchievedRate, res.DurationS)
	}
}

// TestServableMix: a target without a marketing server gets no marketing
// calls, their share spread over the other classes in proportion; one
// with a marketing server gets the plan's mix as it is.
func TestServableMix(t *testing.T) {
	mix := sizing.Mix{sizing.ClassList: 0.34, sizing.ClassView: 0.34, sizing.ClassWrite: 0.15, sizing.ClassReport: 0.05,
		sizing.ClassIntegration: 0.10, sizing.ClassMarketing: 0.02}
	tests := []struct {
		name      string
		marketing []string
		want      sizing.Mix
	}{
		{"no marketing server", nil, sizing.Mix{sizing.ClassList: 0.34 / 0.98, sizing.ClassView: 0.34 / 0.98, sizing.ClassWrite: 0.15 / 0.98,
			sizing.ClassReport: 0.05 / 0.98, sizing.ClassIntegration: 0.10 / 0.98}},
		{"a marketing server", []string{"http://127.0.0.1:8088"}, mix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Scenario: Scenario{Mix: mix}, Target: Target{Marketing: tt.marketing}}
			got := o.servable(o.Scenario).Mix
			if len(got) != len(tt.want) {
				t.Fatalf("mix %v, want %v", got, tt.want)
			}
			sum := 0.0
			for c, w := range tt.want {
				if math.Abs(got[c]-w) > 1e-12 {
					t.Errorf("%s: %v, want %v", c, got[c], w)
				}
				sum += got[c]
			}
			if math.Abs(sum-1) > 1e-12 {
				t.Errorf("shares add up to %v", sum)
			}
		})
	}
	if mix[sizing.ClassMarketing] != 0.02 {
		t.Error("servable changed the plan's mix in place")
	}
}
