package loadgen

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/latency"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/sizing"
)

func TestSegments(t *testing.T) {
	tests := []struct {
		n       int
		want    []string
		wantSeq string
	}{
		{1, []string{"0:1"}, "0,1"},
		{2, []string{"0:1/2", "1/2:1"}, "0,1/2,1"},
		{3, []string{"0:1/3", "1/3:2/3", "2/3:1"}, "0,1/3,2/3,1"},
	}
	for _, tt := range tests {
		segs, seq := segments(tt.n)
		if strings.Join(segs, " ") != strings.Join(tt.want, " ") || seq != tt.wantSeq {
			t.Errorf("segments(%d) = %v, %q; want %v, %q", tt.n, segs, seq, tt.want, tt.wantSeq)
		}
	}
}

func localGenerators(t *testing.T, n int) []Generator {
	var out []Generator
	for i := range n {
		out = append(out, LocalGenerator{Host: "local-" + string(rune('1'+i)), Dir: filepath.Join(t.TempDir(), "gen"), K6: testK6(t)})
	}
	return out
}

// TestVerifyGenerators runs real k6 three times, each with a third of the
// rate as its execution segment, against the fake CRM, and checks the
// merged result: the sum holds the rate, each generator its share, and the
// merged latency is the fake's.
func TestVerifyGenerators(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 three times for several seconds")
	}
	f := newFakeCRM(t, 2*time.Millisecond)
	var log bytes.Buffer
	o := Options{
		Stack: "test",
		Scenario: Scenario{Rate: 60, RampUp: 2 * time.Second, Duration: 6 * time.Second, Mix: testMix,
			SLO: sizing.SLO{P95Ms: 5000, ErrorRate: 0.01}},
		Target: fakeTarget(f), ResultsDir: t.TempDir(), Log: &log, K6: testK6(t),
		ScrapeInterval: 500 * time.Millisecond, SeriesStep: time.Second,
		Generators: localGenerators(t, 3), StartLead: 4 * time.Second,
	}
	res, _, err := Verify(context.Background(), o)
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, log.String())
	}
	if want := 60.0 * 6; math.Abs(float64(res.Requests)-want) > 0.02*want {
		t.Errorf("steady requests = %d, want %g ± 2%%", res.Requests, want)
	}
	if len(res.Generators) != 3 {
		t.Fatalf("generators = %+v, want 3", res.Generators)
	}
	var sum int64
	for _, g := range res.Generators {
		if g.Error != "" || math.Abs(g.AchievedRate-20)/20 > 0.05 || g.CPU <= 0 {
			t.Errorf("generator %+v: want 20 req/s ± 5 %%, some CPU, no error", g)
		}
		sum += g.Requests
	}
	if sum != res.Requests {
		t.Errorf("generators' requests add up to %d, the total says %d", sum, res.Requests)
	}
	if res.Dropped != 0 || res.Failed != 0 || !res.SLO.Passed {
		t.Errorf("dropped %d, failed %d, SLO %+v; want none and passed", res.Dropped, res.Failed, res.SLO)
	}
	// Every class of the mix: the fake serves no campaigns (see
	// TestVerifyFakeCRM).
	for c := range testMix {
		if res.ByClass[string(c)].Requests == 0 {
			t.Errorf("class %s: no requests", c)
		}
	}
	if res.Latency.P95Ms < 2 || res.Latency.P50Ms > res.Latency.P95Ms {
		t.Errorf("latency %+v: p95 below the fake's 2 ms delay or under the median", res.Latency)
	}
	if got := f.signIns.Load(); got != 4 { // the probe and each k6's setup
		t.Errorf("sign-ins = %d, want 4", got)
	}
	if len(res.Tiers) != 1 || res.Tiers[0].Throughput < 45 {
		t.Errorf("tiers = %+v, want web at about 60 req/s", res.Tiers)
	}
	if len(res.Series) == 0 || res.SeriesStart.Before(res.StartedAt) {
		t.Errorf("time series %d points from %v, want some, from after the run's start %v", len(res.Series), res.SeriesStart, res.StartedAt)
	}
	t.Logf("start skew %.1f ms, p95 %.2f ms, generator CPU %.3f cores", res.StartSkewMs, res.Latency.P95Ms, res.GeneratorCPU)
}

// lostGenerator stands for a loadgen host that drops out of the mesh a
// while into the run: its k6 really runs and is stopped, and what it
// measured never arrives, as when the unit's connection is gone.
type lostGenerator struct {
	LocalGenerator
	after time.Duration
}

func (g lostGenerator) Load(ctx context.Context, spec wire.LoadSpec) (wire.LoadReport, error) {
	ctx, cancel := context.WithTimeout(ctx, g.after)
	defer cancel()
	if _, err := g.LocalGenerator.Load(ctx, spec); err != nil {
		return wire.LoadReport{}, err
	}
	return wire.LoadReport{}, errors.New("the host's mesh node stopped answering")
}

// TestVerifyGeneratorLost: a generator that dies mid-run is reported as
// lost, its share missing, with an error that is not the SLO's.
func TestVerifyGeneratorLost(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 twice for several seconds")
	}
	f := newFakeCRM(t, time.Millisecond)
	gens := localGenerators(t, 2)
	gens[1] = lostGenerator{LocalGenerator: gens[1].(LocalGenerator), after: 5 * time.Second}
	o := Options{
		Scenario: Scenario{Rate: 40, Duration: 6 * time.Second, Mix: testMix, SLO: sizing.SLO{P95Ms: 5000, ErrorRate: 0.01}},
		Target:   fakeTarget(f), ResultsDir: t.TempDir(), K6: testK6(t), Generators: gens, StartLead: 3 * time.Second,
	}
	res, path, err := Verify(context.Background(), o)
	if crmplan.ErrorCode(err) != crmplan.EUNAVAILABLE || !strings.Contains(err.Error(), "local-2") {
		t.Fatalf("err = %v, want EUNAVAILABLE naming local-2", err)
	}
	if path == "" || len(res.Generators) != 2 || res.Generators[1].Error == "" || res.Generators[0].Error != "" {
		t.Fatalf("path %q, generators %+v: want the result saved, local-2 lost, local-1 not", path, res.Generators)
	}
	if want := 20.0 * 6; math.Abs(float64(res.Requests)-want) > 0.05*want {
		t.Errorf("requests = %d, want local-1's share only, %g ± 5%%", res.Requests, want)
	}
	if !res.SLO.Passed {
		t.Errorf("SLO %+v: the target kept up, the SLO held on the share that arrived", res.SLO)
	}
}

type deadGenerator struct{ name string }

func (g deadGenerator) Name() string { return g.name }
func (g deadGenerator) Check(context.Context) error {
	return crmplan.Errorf(crmplan.EUNAVAILABLE, "ping %s: no route", g.name)
}
func (g deadGenerator) Load(context.Context, wire.LoadSpec) (wire.LoadReport, error) {
	panic("Load called on a generator that failed its check")
}

// TestVerifyGeneratorDoesNotAnswer: nothing starts when one generator's
// host does not answer.
func TestVerifyGeneratorDoesNotAnswer(t *testing.T) {
	f := newFakeCRM(t, 0)
	gens := append(localGenerators(t, 1), deadGenerator{"loadgen-2"})
	o := Options{
		Scenario: Scenario{Rate: 10, Duration: 2 * time.Second, Mix: testMix, SLO: sizing.SLO{P95Ms: 500, ErrorRate: 0.01}},
		Target:   fakeTarget(f), ResultsDir: t.TempDir(), K6: testK6(t), Generators: gens,
	}
	_, _, err := Verify(context.Background(), o)
	if crmplan.ErrorCode(err) != crmplan.EUNAVAILABLE || !strings.Contains(err.Error(), "loadgen-2") ||
		!strings.Contains(err.Error(), "no load was started") {
		t.Fatalf("err = %v, want EUNAVAILABLE: loadgen-2 does not answer, no load started", err)
	}
	if n := f.signIns.Load(); n != 1 { // the target check's only
		t.Errorf("sign-ins = %d, want 1: no generator may have started", n)
	}
}

// TestMergeJudgesMergedHistogram: the SLO is judged on the merged
// histogram, not on an average of the generators' p95.
func TestMergeJudgesMergedHistogram(t *testing.T) {
	fast, slow := latency.New(), latency.New()
	for range 900 {
		fast.RecordMs(100)
	}
	for range 100 {
		slow.RecordMs(900)
	}
	reports := []wire.LoadReport{
		{Requests: 900, Latency: fast, Started: time.Unix(100, 0)},
		{Requests: 100, Latency: slow, Started: time.Unix(100, 2e6)},
	}
	o := Options{Scenario: Scenario{Rate: 100, Duration: 10 * time.Second, SLO: sizing.SLO{P95Ms: 500, ErrorRate: 0.01}},
		Generators: []Generator{deadGenerator{"a"}, deadGenerator{"b"}}}
	res, _ := o.merge(reports, make([]error, 2), []string{"0:1/2", "1/2:1"})
	// 5 % of 1000 is 50 requests: all of them 900 ms ones. The
	// generators' p95 averaged, (100+900)/2 = 500 ms, would have passed.
	if !latency.Equivalent(res.Latency.P95Ms, 900) || res.SLO.Passed {
		t.Errorf("p95 %v, SLO %+v; want 900 ms and failed", res.Latency.P95Ms, res.SLO)
	}
	if res.StartSkewMs != 2 || res.Generators[1].StartOffsetMs != 2 {
		t.Errorf("start skew %v ms, offsets %+v; want 2 ms", res.StartSkewMs, res.Generators)
	}
	if res.AchievedRate != 100 || res.Generators[0].AchievedRate != 90 {
		t.Errorf("achieved %v, generators %+v; want 100 in all, 90 from the first", res.AchievedRate, res.Generators)
	}
}

// TestWriteSummaryGenerators: the summary shows each generator's share
// and the lost one as lost.
func TestWriteSummaryGenerators(t *testing.T) {
	res := Result{TargetRate: 150, AchievedRate: 100.2, Requests: 6012, StartSkewMs: 4.1, GeneratorCPU: 0.2,
		SLO: SLOResult{P95Ms: 500, ErrorRate: 0.01, Passed: true},
		Generators: []GeneratorResult{
			{Host: "loadgen-1", Segment: "0:1/3", AchievedRate: 50.1, Requests: 3006, CPU: 0.1},
			{Host: "loadgen-2", Segment: "1/3:2/3", AchievedRate: 50.1, Requests: 3006, CPU: 0.1, StartOffsetMs: 4.1},
			{Host: "loadgen-3", Segment: "2/3:1", Error: "lost: k6 died"},
		}}
	var out bytes.Buffer
	if err := WriteSummary(&out, res, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"loadgen-2  1/3:2/3  50.10/s", "+4.1 ms", "loadgen-3  2/3:1    LOST", "lost: k6 died", "skew 4.1 ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// TestVerifyGeneratorsChaos: a chaos run with two generators builds its
// timeline and write ledger from both generators' requests, and their
// ledger keys do not collide (each k6 numbers its VUs from 1).
func TestVerifyGeneratorsChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6 twice for several seconds")
	}
	f := newFakeCRM(t, time.Millisecond)
	var checked []string
	var run string
	chaos := &Chaos{
		Faults: []Fault{{Action: "kill", Target: "api-1", At: 2 * time.Second}},
		// The fake has nothing to kill: the fault is recorded, not struck.
		Inject: func(ctx context.Context, flt Fault) (string, time.Time, error) { return "api-1", time.Time{}, nil },
		Missing: func(ctx context.Context, r string, keys []string) ([]string, error) {
			run, checked = r, keys
			return nil, nil
		},
	}
	o := Options{
		Scenario: Scenario{Rate: 40, Duration: 5 * time.Second, Mix: testMix, SLO: sizing.SLO{P95Ms: 5000, ErrorRate: 0.01}},
		Target:   fakeTarget(f), ResultsDir: t.TempDir(), K6: testK6(t), Generators: localGenerators(t, 2),
		StartLead: 3 * time.Second, Chaos: chaos,
	}
	res, _, err := Verify(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	a := res.Availability
	if a == nil || len(a.Faults) != 1 || a.Faults[0].Host != "api-1" {
		t.Fatalf("availability %+v, want the fault on api-1", a)
	}
	var timeline int64
	for _, s := range a.Timeline {
		timeline += s.Requests
	}
	if timeline < res.Requests {
		t.Errorf("the timeline holds %d requests, fewer than the steady phase's %d", timeline, res.Requests)
	}
	seen := map[string]bool{}
	var g1, g2 int
	for _, k := range checked {
		if seen[k] {
			t.Errorf("ledger key %s acknowledged twice: the generators' keys collide", k)
		}
		seen[k] = true
		switch {
		case strings.HasPrefix(k, "lt-"+run+"-g1-"):
			g1++
		case strings.HasPrefix(k, "lt-"+run+"-g2-"):
			g2++
		}
	}
	if g1 == 0 || g2 == 0 || g1+g2 != len(checked) || a.Ledger.Acked != len(checked) {
		t.Errorf("ledger: %d keys of generator 1, %d of 2, %d checked, %d acked; want both, all of them under the run %s",
			g1, g2, len(checked), a.Ledger.Acked, run)
	}
}
