package reports

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// TestGatherExamples builds the report of every example plan with the real
// sizing model and topology layout (nothing deployed, no load test) and
// checks that each page is self-contained and carries its diagram.
func TestGatherExamples(t *testing.T) {
	paths, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example plans (%v)", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			plan := examplePlan(t, path)
			in, err := Gather(plan, t.TempDir(), plan.Name, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			if in.Estimate == nil || in.Topology == nil || in.DiagramSVG == "" || len(in.Sweep) != 9 {
				t.Fatalf("Gather left out the estimate, topology, diagram or sweep: %+v", in)
			}
			if in.Inventory != nil || in.Result != nil {
				t.Errorf("Gather found a deployment or a load test in an empty state dir")
			}
			r, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Topology.Missing != "" || r.WhatIf.Missing != "" || r.Cost.Missing != "" {
				t.Errorf("sections missing: topology %q, what-if %q, cost %q", r.Topology.Missing, r.WhatIf.Missing, r.Cost.Missing)
			}
			var page bytes.Buffer
			if err := WriteHTML(&page, r); err != nil {
				t.Fatal(err)
			}
			if refs := externalRefs(page.String()); len(refs) > 0 {
				t.Errorf("report.html references outside resources: %q", refs)
			}
			if !strings.Contains(page.String(), "topo-arrow") {
				t.Errorf("report.html lacks the topology diagram")
			}
		})
	}
}

// TestScreenshotExample renders the SimpleCRM example's real report for a
// person to look at: test-artifacts/reports/simplecrm.png.
func TestScreenshotExample(t *testing.T) {
	b := browser(t)
	plan := examplePlan(t, "../examples/simplecrm.yaml")
	in, err := Gather(plan, t.TempDir(), plan.Name, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	dir := artifacts(t)
	files := writeFixture(t, dir, "simplecrm", in)
	png := filepath.Join(dir, "simplecrm.png")
	if err := b.Screenshot(t.Context(), files.HTML, png, 1280, 4800); err != nil {
		t.Fatal(err)
	}
	t.Logf("look at %s", png)
}

// TestGatherAtTestRate: with a verify result in the state dir, Gather sizes
// the plan's servers again at the result's rate, for the report's
// predicted-against-measured comparison.
func TestGatherAtTestRate(t *testing.T) {
	plan := examplePlan(t, "../examples/simplecrm.yaml")
	tests := []struct {
		name   string
		rate   float64 // 0: no result saved
		wantAt bool
	}{
		{"no load test", 0, false},
		{"at the design rate", 150, true},
		{"above it", 240, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			if tt.rate > 0 {
				res := loadgen.Result{Stack: plan.Name, TargetRate: tt.rate, AchievedRate: tt.rate, Requests: 100}
				if _, err := loadgen.SaveResult(stackdir.Paths{StateDir: state, Stack: plan.Name}.Results(), "run-1", res); err != nil {
					t.Fatal(err)
				}
			}
			in, err := Gather(plan, state, plan.Name, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			if got := in.AtTestRate != nil; got != tt.wantAt {
				t.Fatalf("AtTestRate set = %v, want %v", got, tt.wantAt)
			}
			if in.AtTestRate == nil {
				return
			}
			if r := in.AtTestRate.Workload.DesignRate; math.Abs(r-tt.rate) > 1e-9 {
				t.Errorf("predicted at %v req/s, want the test's %v", r, tt.rate)
			}
			for i, te := range in.AtTestRate.Tiers {
				if te.Servers != in.Estimate.Tiers[i].Servers {
					t.Errorf("%s: %d servers at the test's rate, want the plan's %d", te.Role, te.Servers, in.Estimate.Tiers[i].Servers)
				}
			}
		})
	}
}

// examplePlan decodes the example plan at path.
func examplePlan(t *testing.T, path string) *topology.Plan {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.DecodePlan(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}
