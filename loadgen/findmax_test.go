package loadgen

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// TestFindMax drives a fake CRM that serves one request at a time in 20 ms,
// so it saturates at 50 req/s: 10 and 30 req/s hold, 90 breaks. (At
// exactly 50 req/s evenly spaced arrivals barely queue, so the steps stay
// clear of it. The second step is at 60 % of the fake's capacity: at 75 %
// (37.5 req/s) a machine busy with other tests stretched the fake's 20 ms
// enough to queue, p95 565 ms, and the step failed.)
func TestFindMax(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 three times")
	}
	findMax(t, nil, 10)
}

// TestFindMaxGenerators finds the maximum with two generators, each
// driving half of every step's rate: 10 and 30 req/s hold (60 % of the
// fake's 50), 90 breaks.
func TestFindMaxGenerators(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 six times")
	}
	findMax(t, localGenerators(t, 2), 10)
}

// findMax steps up from start by a factor of 3: the second step must hold
// and the third (above the fake's 50 req/s) break.
func findMax(t *testing.T, gens []Generator, start float64) {
	f := newFakeCRM(t, 20*time.Millisecond)
	f.serial = true
	dir := t.TempDir()
	o := Options{
		Stack: "test",
		Scenario: Scenario{Rate: start, RampUp: time.Second, Duration: 4 * time.Second, Mix: testMix,
			SLO: sizing.SLO{P95Ms: 400, ErrorRate: 0.01}},
		Target: fakeTarget(f), K6: testK6(t), ResultsDir: dir, Generators: gens, StartLead: 3 * time.Second,
	}
	res, path, err := FindMax(context.Background(), o, FindMaxOptions{Factor: 3, PredictedSaturation: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.MaxRate != start*3 || len(res.Steps) != 3 || res.Steps[2].Passed {
		t.Fatalf("max %g after %+v; want %g with the third step (%g req/s) broken", res.MaxRate, res.Steps, start*3, start*9)
	}
	if res.Best == nil || res.Best.TargetRate != start*3 || res.PredictedSaturation != 50 {
		t.Errorf("best = %+v, predicted %g", res.Best, res.PredictedSaturation)
	}
	if _, err := os.Stat(filepath.Join(dir, "findmax-latest.json")); err != nil || path == "" {
		t.Errorf("find-max result not saved: %v", err)
	}
	if len(gens) > 0 && len(res.Best.Generators) != len(gens) {
		t.Errorf("best step's generators = %+v, want %d", res.Best.Generators, len(gens))
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

func TestWriteFindMax(t *testing.T) {
	steps := []FindMaxStep{
		{Rate: 100, AchievedRate: 99.9, P95Ms: 40, Passed: true},
		{Rate: 125, AchievedRate: 118, P95Ms: 900, ErrorRate: 0.02, Dropped: 7, Why: []string{"p95 900 ms", "rate short"}},
	}
	tests := []struct {
		name    string
		res     FindMaxResult
		want    []string
		wantNot string
	}{
		{"with the model's saturation", FindMaxResult{Steps: steps, MaxRate: 100, PredictedSaturation: 320.4},
			[]string{"100.0/s  99.9/s", "held", "2.00 %", "broke: p95 900 ms; rate short", "measured max", "100.0 req/s",
				"predicted saturation  320.4 req/s (the sizing model's first tier at 100 %, on the plan's servers)"}, ""},
		{"a target crmplan did not plan", FindMaxResult{Steps: steps[:1], MaxRate: 100},
			[]string{"measured max", "100.0 req/s"}, "predicted saturation"},
		{"predicted here and the USL", uslResult(),
			[]string{"predicted here  92.3 req/s (every host and k6 on this machine's cores)", "USL peak", "USL: lambda 120.0 ["}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteFindMax(&b, tt.res); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			if tt.wantNot != "" && strings.Contains(b.String(), tt.wantNot) {
				t.Errorf("output has %q:\n%s", tt.wantNot, b.String())
			}
		})
	}
}

// uslResult is a find-max whose steps lie on a USL curve (lambda 120,
// sigma 0.04, kappa 0.002: peak 955 req/s at 21.9 in flight), each step's
// mean response time N/X by Little's law.
func uslResult() FindMaxResult {
	r := FindMaxResult{MaxRate: 1000, PredictedSaturationHere: 92.3}
	for _, n := range []float64{1, 2, 4, 8, 16, 24} {
		x := 120 * n / (1 + 0.04*(n-1) + 0.002*n*(n-1))
		r.Steps = append(r.Steps, FindMaxStep{Rate: x, AchievedRate: x, MeanMs: n / x * 1000, Passed: true})
	}
	r.fitUSL()
	return r
}

func TestFindMaxUSL(t *testing.T) {
	r := uslResult()
	if r.USL == nil || math.Abs(r.USL.PeakX/955.0-1) > 0.01 || math.Abs(r.USL.Sigma.Value-0.04) > 1e-3 {
		t.Errorf("USL %+v, want the curve's peak of 955 req/s", r.USL)
	}
	short := FindMaxResult{Steps: r.Steps[:2]}
	if short.fitUSL(); short.USL != nil {
		t.Errorf("a USL from two steps: %+v", short.USL)
	}
}
