package loadgen

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// TestFindMax drives a fake CRM that serves one request at a time in 20 ms,
// so it saturates at 50 req/s: 12.5 and 37.5 req/s hold, 112.5 breaks. (At
// exactly 50 req/s evenly spaced arrivals barely queue, so the steps stay
// clear of it.)
func TestFindMax(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 three times")
	}
	f := newFakeCRM(t, 20*time.Millisecond)
	f.serial = true
	dir := t.TempDir()
	o := Options{
		Stack: "test",
		Scenario: Scenario{Rate: 12.5, RampUp: time.Second, Duration: 4 * time.Second, Mix: testMix,
			SLO: sizing.SLO{P95Ms: 400, ErrorRate: 0.01}},
		Target: fakeTarget(f), K6: testK6(t), ResultsDir: dir,
	}
	res, path, err := FindMax(context.Background(), o, FindMaxOptions{Factor: 3, PredictedSaturation: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.MaxRate != 37.5 || len(res.Steps) != 3 || res.Steps[2].Passed {
		t.Fatalf("max %g after %+v; want 37.5 with the third step (112.5 req/s) broken", res.MaxRate, res.Steps)
	}
	if res.Best == nil || res.Best.TargetRate != 37.5 || res.PredictedSaturation != 50 {
		t.Errorf("best = %+v, predicted %g", res.Best, res.PredictedSaturation)
	}
	if _, err := os.Stat(filepath.Join(dir, "findmax-latest.json")); err != nil || path == "" {
		t.Errorf("find-max result not saved: %v", err)
	}
}

func TestFindMaxRejects(t *testing.T) {
	o := Options{Scenario: Scenario{Rate: 10, Duration: time.Second, Mix: testMix, SLO: sizing.DefaultSLO()},
		K6: K6{Command: []string{"/nonexistent"}}, ResultsDir: t.TempDir()}
	for name, tc := range map[string]struct {
		o Options
		f FindMaxOptions
	}{
		"factor 1":      {o, FindMaxOptions{Factor: 1}},
		"edited script": {func() Options { x := o; x.Script = []byte("x"); return x }(), FindMaxOptions{}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := FindMax(context.Background(), tc.o, tc.f); crmplan.ErrorCode(err) != crmplan.EINVALID {
				t.Errorf("err = %v, want EINVALID", err)
			}
		})
	}
}

func TestJudgeStep(t *testing.T) {
	tests := []struct {
		name string
		res  Result
		want bool
	}{
		{"held", Result{TargetRate: 100, AchievedRate: 99, SLO: SLOResult{Passed: true}}, true},
		{"short of the rate", Result{TargetRate: 100, AchievedRate: 97.9, SLO: SLOResult{Passed: true}}, false},
		{"dropped", Result{TargetRate: 100, AchievedRate: 100, Dropped: 1, SLO: SLOResult{Passed: true}}, false},
		{"SLO", Result{TargetRate: 100, AchievedRate: 100, SLO: SLOResult{Violations: []string{"p95"}}}, false},
	}
	for _, tt := range tests {
		if got := judgeStep(tt.res); got.Passed != tt.want || (!got.Passed && len(got.Why) == 0) {
			t.Errorf("%s: %+v, want passed=%v with a reason when not", tt.name, got, tt.want)
		}
	}
}
