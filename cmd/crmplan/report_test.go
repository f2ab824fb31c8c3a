package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision/stackdir"
)

const seedPlanFile = "../../examples/simplecrm.yaml"

// reportJSON is the part of report.json these tests read.
type reportJSON struct {
	Plan     string `json:"plan"`
	Deployed string `json:"deployed"`
	Summary  struct {
		Verdict     string  `json:"verdict"`
		MonthlyCost float64 `json:"monthly_cost"`
	} `json:"summary"`
	Workload struct {
		NamedUsers        int     `json:"named_users"`
		RequestsPerSecond float64 `json:"requests_per_second"`
	} `json:"workload"`
	Measured struct {
		Missing       string  `json:"missing"`
		MeasuredP95Ms float64 `json:"measured_p95_ms"`
		PredictedAt   float64 `json:"predicted_at"`
	} `json:"measured"`
	WhatIf struct {
		Missing string `json:"missing"`
		Points  []any  `json:"points"`
	} `json:"what_if"`
	Topology struct {
		Zones []struct {
			Zone  string   `json:"zone"`
			Hosts []string `json:"hosts"`
		} `json:"zones"`
	} `json:"topology"`
}

func readReportJSON(t *testing.T, dir string) reportJSON {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reportJSON
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return r
}

func TestReportBeforeApply(t *testing.T) {
	state := t.TempDir()
	code, stdout, stderr := crmplanRun(t, "report", "--plan", seedPlanFile, "--state-dir", state)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	dir := stackdir.Paths{StateDir: state, Stack: "simplecrm"}.Reports()
	if got, want := strings.TrimSpace(stdout), filepath.Join(dir, "report.html"); got != want {
		t.Errorf("printed %q, want the HTML's path %q", got, want)
	}
	for _, name := range []string{"report.html", "report.md", "report.json"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	r := readReportJSON(t, dir)
	if r.Workload.NamedUsers != 3000 || r.Workload.RequestsPerSecond != 150 {
		t.Errorf("workload = %+v, want seed 000's 3000 named users and 150 req/s", r.Workload)
	}
	if !strings.Contains(r.Measured.Missing, "no load test yet: run crmplan verify --plan "+seedPlanFile) || r.Deployed != "" {
		t.Errorf("measured.missing = %q, deployed = %q: want the missing load test said and no deployment", r.Measured.Missing, r.Deployed)
	}
	if r.WhatIf.Missing != "" || len(r.WhatIf.Points) < 5 || len(r.Topology.Zones) < 2 || r.Summary.MonthlyCost <= 0 {
		t.Errorf("report lacks the sweep, the topology or the cost: %+v", r)
	}
}

// TestReportAfterVerify puts an inventory and a verify result where apply
// and verify leave them and checks that the report reads both.
func TestReportAfterVerify(t *testing.T) {
	state, out := t.TempDir(), t.TempDir()
	if err := stackdir.SaveInventory(state, stackdir.Inventory{Stack: "simplecrm", Target: "local",
		Hosts: make([]stackdir.InventoryHost, 7), AppVersion: "abc123", Records: 1000}); err != nil {
		t.Fatal(err)
	}
	res := loadgen.Result{Stack: "simplecrm", StartedAt: time.Now(), DurationS: 30, TargetRate: 150, AchievedRate: 149.6,
		Requests: 4488, Latency: loadgen.Percentiles{MeanMs: 20, P95Ms: 87}, SLO: loadgen.SLOResult{P95Ms: 500, ErrorRate: 0.01, Passed: true},
		Series: []loadgen.SeriesPoint{{AtS: 10, Rate: 149, P95Ms: 90}, {AtS: 20, Rate: 150, P95Ms: 85}, {AtS: 30, Rate: 150, P95Ms: 86}}}
	if _, err := loadgen.SaveResult(stackdir.Paths{StateDir: state, Stack: "simplecrm"}.Results(), "run-1", res); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := crmplanRun(t, "report", "--plan", seedPlanFile, "--state-dir", state, "--out", out, "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var files struct{ HTML, Markdown, JSON string }
	if err := json.Unmarshal([]byte(stdout), &files); err != nil || files.HTML != filepath.Join(out, "report.html") {
		t.Fatalf("--output json printed %q (%v)", stdout, err)
	}
	r := readReportJSON(t, out)
	if r.Measured.Missing != "" || r.Measured.MeasuredP95Ms != 87 || r.Measured.PredictedAt != 150 {
		t.Errorf("measured = %+v, want the saved result's p95 87 ms compared with the model at 150 req/s", r.Measured)
	}
	if !strings.Contains(r.Deployed, "local target, 7 hosts, app abc123") {
		t.Errorf("deployed = %q, want the inventory's target, hosts and app version", r.Deployed)
	}
	md, err := os.ReadFile(files.Markdown)
	if err != nil || !bytes.Contains(md, []byte("| p95 |")) {
		t.Errorf("report.md lacks the predicted-vs-measured table (%v)", err)
	}
}

func TestReportPDF(t *testing.T) {
	if testing.Short() {
		t.Skip("starts headless Chromium; skipped under -short")
	}
	out := t.TempDir()
	code, stdout, stderr := crmplanRun(t, "report", "--plan", seedPlanFile, "--state-dir", t.TempDir(), "--out", out, "--pdf")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	pdf := filepath.Join(out, "report.pdf")
	if !strings.Contains(stdout, pdf) {
		t.Errorf("stdout %q does not name %s", stdout, pdf)
	}
	data, err := os.ReadFile(pdf)
	if err != nil || !bytes.HasPrefix(data, []byte("%PDF-")) || len(data) < 20_000 {
		t.Fatalf("report.pdf is not a PDF of the report (%d bytes, %v)", len(data), err)
	}
}

func TestReportErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no plan", []string{"report", "--state-dir", "x"}, exitUsage, "--plan"},
		{"missing plan file", []string{"report", "--plan", "nope.yaml", "--state-dir", "x"}, exitUsage, "nope.yaml"},
		{"bad output", []string{"report", "--plan", seedPlanFile, "--output", "xml"}, exitUsage, "--output"},
		{"no browser", []string{"report", "--plan", seedPlanFile, "--state-dir", "x", "--pdf", "--chromium", "/nonexistent/chromium"}, exitFailure, "Chromium is not installed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := crmplanRun(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}
