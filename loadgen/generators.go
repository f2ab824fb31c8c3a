package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/latency"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// Generator runs one share of a verify run: k6 with one execution segment
// of the script, somewhere (a loadgen host through the mesh, or a process
// on this machine), reporting histograms and counts, never raw samples.
type Generator interface {
	// Name is the host the generator runs on, as the result shows it.
	Name() string
	// Check fails when the generator cannot take a share (its host does
	// not answer): verify calls it on every generator before any starts.
	Check(ctx context.Context) error
	// Load runs spec's segment and returns what it measured. An error
	// means this generator's share is missing, not that the target failed.
	Load(ctx context.Context, spec wire.LoadSpec) (wire.LoadReport, error)
}

// LocalGenerator runs a share on this machine, in a directory of its own,
// with the same code a loadgen host's agent runs for a crmplan-load unit.
type LocalGenerator struct {
	Host string // its name in the result, e.g. "local-2"
	Dir  string
	K6   K6
}

var _ Generator = LocalGenerator{}

func (g LocalGenerator) Name() string { return g.Host }

// Check fails when the generator's directory cannot be made.
func (g LocalGenerator) Check(context.Context) error {
	if err := os.MkdirAll(g.Dir, 0o700); err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "generator %s: %w", g.Host, err).In("generator " + g.Host)
	}
	return nil
}

func (g LocalGenerator) Load(ctx context.Context, spec wire.LoadSpec) (wire.LoadReport, error) {
	for _, e := range g.K6.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			spec.Env[k] = v
		}
	}
	return agent.Host{Dir: g.Dir}.Load(ctx, g.K6.Command, spec)
}

// GeneratorResult is one generator's share of a run.
type GeneratorResult struct {
	Host         string  `json:"host"`
	Segment      string  `json:"segment"` // k6's execution segment, e.g. "1/3:2/3"
	AchievedRate float64 `json:"achieved_rate"`
	Dropped      int64   `json:"dropped_iterations"`
	CPU          float64 `json:"cpu"` // cores
	Requests     int64   `json:"requests"`
	Failed       int64   `json:"failed"`
	// StartOffsetMs is when this generator started after the first one:
	// the run's start skew is the largest.
	StartOffsetMs float64 `json:"start_offset_ms"`
	// Error says why the generator's share is missing from the totals
	// (its host stopped answering, its k6 died): a fault of the load
	// generation, not of the system under test.
	Error string `json:"error,omitempty"`
}

// GeneratorsFile is the file in a run's directory holding every
// generator's report ([]wire.LoadReport, JSON).
const GeneratorsFile = "generators.json"

// defaultStartLead is how far ahead the shared start is set: a mesh unit
// takes about 2.5 s to reach its host, and k6 a second or two to compile
// the script and make its VUs before it waits, paused, for the start.
const defaultStartLead = 6 * time.Second

// segments splits a run into n equal k6 execution segments and returns
// them with the sequence every generator is given, so that k6 on each
// partitions the VUs and arrival rates the same way.
func segments(n int) (segs []string, sequence string) {
	frac := func(i int) string {
		switch i {
		case 0:
			return "0"
		case n:
			return "1"
		}
		return fmt.Sprintf("%d/%d", i, n)
	}
	seq := make([]string, n+1)
	for i := 0; i <= n; i++ {
		seq[i] = frac(i)
	}
	for i := 0; i < n; i++ {
		segs = append(segs, frac(i)+":"+frac(i+1))
	}
	return segs, strings.Join(seq, ",")
}

// checkGenerators asks every generator whether it can take its share,
// all at once, before any load starts.
func (o Options) checkGenerators(ctx context.Context) error {
	errs := make([]error, len(o.Generators))
	var wg sync.WaitGroup
	for i, g := range o.Generators {
		wg.Go(func() { errs[i] = g.Check(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return crmplan.Errorf(crmplan.EUNAVAILABLE, "load generator %s does not answer; no load was started: %w", o.Generators[i].Name(), err).
				In("--generators").Try("crmplan status   # is the loadgen host up? or: crmplan verify --generators %d", max(len(o.Generators)-1, 1))
		}
	}
	return nil
}

// runMany runs the script on every generator at once, each with its
// execution segment, and merges their reports into one Result: counts
// summed, histograms merged, the SLO judged on the merged data.
func (o Options) runMany(ctx context.Context, script []byte, dir, runID string) (Result, error) {
	if err := os.WriteFile(filepath.Join(dir, "script.js"), script, 0o600); err != nil {
		return Result{}, fmt.Errorf("verify: %w", err)
	}
	var ca []byte
	if o.Target.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(o.Target.CAFile); err != nil {
			return Result{}, crmplan.Errorf(crmplan.EINVALID, "cannot read the target's CA: %w", err).In("--ca-file").
				Try("crmplan verify --target %s --ca-file STACK-CA.crt", o.Target.URL)
		}
	}
	n := len(o.Generators)
	segs, seq := segments(n)
	lead := o.StartLead
	if lead <= 0 {
		lead = defaultStartLead
	}
	reports := make([]wire.LoadReport, n)
	errs := make([]error, n)

	// The scraper's idle window comes first, so the start is set after it.
	sc, stopScrape := o.startScraper(ctx)
	startAt := time.Now().Add(lead)
	o.logf("k6: %g req/s for %s after a %s ramp-up against %s from %d generators, starting at %s",
		o.Scenario.Rate, o.Scenario.Duration, o.Scenario.RampUp, o.Target.URL, n, startAt.Format("15:04:05.000"))
	var injected <-chan []Injected
	stopChaos := func() {}
	if o.Chaos != nil {
		var chaosCtx context.Context
		chaosCtx, stopChaos = context.WithCancel(ctx)
		injected = o.Chaos.schedule(chaosCtx, startAt.Add(time.Second+o.Scenario.RampUp), o.logf)
	}
	// A generator whose host vanished may never answer: its share is
	// given up two minutes after the run's planned end (k6's setup and
	// teardown included), and reported lost.
	end := startAt.Add(o.Scenario.RampUp + o.Scenario.Duration + 2*time.Minute)
	genCtx, cancelGens := context.WithDeadlineCause(ctx, end,
		fmt.Errorf("no report 2m after the run's planned end (%s)", end.Format("15:04:05")))
	defer cancelGens()
	var wg sync.WaitGroup
	for i, g := range o.Generators {
		spec := o.loadSpec(script, startAt, fmt.Sprintf("%s-g%d", runID, i+1), string(ca))
		if n > 1 {
			spec.Segment, spec.Sequence = segs[i], seq
		}
		wg.Go(func() {
			reports[i], errs[i] = g.Load(genCtx, spec)
			if errs[i] != nil && ctx.Err() != nil && reports[i].Requests > 0 {
				errs[i] = nil // interrupted by the user: what ran counts, as with one k6
			}
			if errs[i] != nil {
				o.logf("generator %s: %v", g.Name(), errs[i])
			}
		})
	}
	wg.Wait()
	stopChaos()
	stopScrape()

	res, reqs := o.merge(reports, errs, segs)
	if res.Requests == 0 && ctx.Err() == nil {
		var msgs []string
		for i, err := range errs {
			if err != nil {
				msgs = append(msgs, o.Generators[i].Name()+": "+err.Error())
			}
		}
		if len(msgs) > 0 {
			return Result{}, crmplan.Errorf(crmplan.EUNAVAILABLE, "no load generator finished: %s", strings.Join(msgs, "; "))
		}
	}
	if first, last, ok := steadyWindowOf(reports, errs); ok {
		res.Tiers, res.ScrapeErrors = sc.tiers(first, last)
		res.Background, res.BackgroundError = sc.background(res.Tiers)
		res.Machine = sc.machineCPU(o.Machine.Cores, res.Tiers, first, last)
		if span := last.Sub(first).Seconds(); res.Requests > 1 && span < 0.9*res.DurationS && ctx.Err() != nil {
			res.DurationS = span * float64(res.Requests) / float64(res.Requests-1)
			res.AchievedRate = float64(res.Requests) / res.DurationS
		}
	}
	if injected != nil {
		avail, err := o.Chaos.measureSamples(ctx, reqs, runID, <-injected)
		if err != nil {
			return Result{}, err
		}
		res.Availability = &avail
	}
	// What every generator reported, for a look afterwards: with
	// KeepPoints, every request it made too.
	if b, err := json.Marshal(reports); err == nil {
		_ = os.WriteFile(filepath.Join(dir, GeneratorsFile), b, 0o600)
	}
	return res, nil
}

// loadSpec is a generator's share of the run but for its segment. run is
// the generator's own run id: ledger keys are unique per VU of one k6,
// and every k6 numbers its VUs from 1.
// ca is the PEM of the target's CA (the generator's k6 trusts it).
func (o Options) loadSpec(script []byte, startAt time.Time, run, ca string) wire.LoadSpec {
	return wire.LoadSpec{Script: string(script), StartAt: startAt, Steady: steadyScenario, CA: ca,
		Samples: o.Chaos != nil || o.KeepPoints, Env: map[string]string{
			"CRMPLAN_TARGET":   o.Target.URL,
			"CRMPLAN_EMAIL":    o.Target.Email,
			"CRMPLAN_PASSWORD": o.Target.Password,
			"CRMPLAN_RUN":      run,
			// Generators stand where users are: the DMZ's marketing
			// servers are theirs to reach (the loadgen -> marketing link).
			"CRMPLAN_MARKETING": strings.Join(o.Target.Marketing, ","),
		}}
}

// merge adds up the reports of the generators that finished. The steady
// phase's latency comes from the merged histograms; the achieved rate is
// the sum's over the scenario's duration, so a missing share shows.
func (o Options) merge(reports []wire.LoadReport, errs []error, segs []string) (Result, []sample) {
	sc := o.Scenario
	res := Result{TargetRate: sc.Rate, DurationS: sc.Duration.Seconds(), ByClass: map[string]ClassResult{},
		Errors: map[string]int64{}, SLO: SLOResult{P95Ms: sc.SLO.P95Ms, ErrorRate: sc.SLO.ErrorRate}}
	all := latency.New()
	classes := map[string]*latency.Histogram{}
	var reqs []sample
	var first time.Time
	for i, r := range reports {
		if errs[i] == nil && (first.IsZero() || r.Started.Before(first)) {
			first = r.Started
		}
	}
	for i, r := range reports {
		g := GeneratorResult{Host: o.Generators[i].Name(), Segment: segs[i]}
		if errs[i] != nil {
			// The first line: a unit's error may carry the host's
			// own output after it.
			msg, _, _ := strings.Cut(errs[i].Error(), "\n")
			g.Error = fmt.Sprintf("lost: %s; its share (%s of the load) is missing from the totals", strings.TrimSpace(msg), segs[i])
			res.Generators = append(res.Generators, g)
			continue
		}
		g.Requests, g.Failed, g.Dropped, g.CPU = r.Requests, r.Failed, r.Dropped, r.CPU
		g.StartOffsetMs = float64(r.Started.Sub(first).Microseconds()) / 1000
		if res.DurationS > 0 {
			g.AchievedRate = float64(r.Requests) / res.DurationS
		}
		res.Generators = append(res.Generators, g)
		res.StartSkewMs = max(res.StartSkewMs, g.StartOffsetMs)
		res.Requests += r.Requests
		res.Failed += r.Failed
		res.Dropped += r.Dropped
		res.GeneratorCPU += r.CPU
		all.Merge(r.Latency)
		for name, c := range r.ByClass {
			cr := res.ByClass[name]
			cr.Requests += c.Requests
			cr.Failed += c.Failed
			res.ByClass[name] = cr
			if classes[name] == nil {
				classes[name] = latency.New()
			}
			classes[name].Merge(c.Latency)
		}
		for k, v := range r.Errors {
			res.Errors[k] += v
		}
		reqs = append(reqs, loadSamples(r)...)
	}
	res.Latency = percentilesOf(all)
	for name, h := range classes {
		cr := res.ByClass[name]
		cr.Latency = percentilesOf(h)
		res.ByClass[name] = cr
	}
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Failed) / float64(res.Requests)
	}
	if res.DurationS > 0 {
		res.AchievedRate = float64(res.Requests) / res.DurationS
	}
	res.Series, res.SeriesStart = mergedSeries(reports, errs, first, o.seriesStep()), first
	res.SLO.Classes = classVerdicts(sc, res.ByClass, func(c string) (float64, bool) {
		h := classes[c]
		return h.QuantileMs(0.95), h != nil && h.Count() > 0
	})
	res.SLO.Violations = append(judge(res, all), classViolations(res.SLO.Classes, func(string) bool { return true })...)
	res.SLO.Passed = len(res.SLO.Violations) == 0
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].at.Before(reqs[j].at) })
	return res, reqs
}

// judge checks the SLO on the merged data, as k6's thresholds would have
// on one generator's, and words a crossed one the same way.
func judge(res Result, all *latency.Histogram) []string {
	var out []string
	if p95 := all.QuantileMs(0.95); all.Count() > 0 && !(p95 < res.SLO.P95Ms) {
		out = append(out, fmt.Sprintf("%s: p(95)<%g crossed (p(95)=%.4g)", steadyDuration, res.SLO.P95Ms, p95))
	}
	if res.Requests > 0 && !(res.ErrorRate < res.SLO.ErrorRate) {
		out = append(out, fmt.Sprintf("%s: rate<%g crossed (rate=%.4g)", steadyFailed, res.SLO.ErrorRate, res.ErrorRate))
	}
	return out
}

func percentilesOf(h *latency.Histogram) Percentiles {
	return Percentiles{MeanMs: h.MeanMs(), P50Ms: h.QuantileMs(0.5), P90Ms: h.QuantileMs(0.9),
		P95Ms: h.QuantileMs(0.95), P99Ms: h.QuantileMs(0.99), MaxMs: h.MaxMs()}
}

// mergedSeries adds the generators' seconds up into steps since the first
// generator's start; each generator's seconds count from its own start.
func mergedSeries(reports []wire.LoadReport, errs []error, first time.Time, step time.Duration) []SeriesPoint {
	type bucket struct {
		n, errors int64
		lat       *latency.Histogram
	}
	var buckets []bucket
	for i, r := range reports {
		if errs[i] != nil {
			continue
		}
		for s, sec := range r.Seconds {
			at := r.Started.Add(time.Duration(s) * time.Second).Sub(first)
			b := int(at / step)
			for len(buckets) <= b {
				buckets = append(buckets, bucket{lat: latency.New()})
			}
			buckets[b].n += sec.Requests
			buckets[b].errors += sec.Failed
			buckets[b].lat.Merge(sec.Latency)
		}
	}
	out := make([]SeriesPoint, len(buckets))
	for i, b := range buckets {
		out[i] = SeriesPoint{AtS: (time.Duration(i+1) * step).Seconds(), Rate: float64(b.n) / step.Seconds(),
			P95Ms: b.lat.QuantileMs(0.95), Errors: b.errors}
	}
	return out
}

// steadyWindowOf returns the merged steady phase's first and last request.
func steadyWindowOf(reports []wire.LoadReport, errs []error) (first, last time.Time, ok bool) {
	for i, r := range reports {
		if errs[i] != nil || r.First.IsZero() {
			continue
		}
		if !ok || r.First.Before(first) {
			first = r.First
		}
		if r.Last.After(last) {
			last = r.Last
		}
		ok = true
	}
	return first, last, ok
}

// loadSamples turns a chaos run's per-request samples back into the
// samples the availability measure reads.
func loadSamples(r wire.LoadReport) []sample {
	out := make([]sample, len(r.Samples))
	for i, s := range r.Samples {
		out[i] = sample{at: time.UnixMicro(s.AtUs), ms: s.Ms, class: s.Class, method: s.Method,
			scenario: s.Scenario, failed: s.Failed, kind: s.Kind, ledger: s.Ledger}
	}
	return out
}

// lostGenerators returns an error naming the generators whose share is
// missing from res, nil when every one finished.
func lostGenerators(res Result, path string) error {
	var lost []string
	for _, g := range res.Generators {
		if g.Error != "" {
			lost = append(lost, g.Host)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	return crmplan.Errorf(crmplan.EUNAVAILABLE, "%d of %d load generators did not finish: %s; the result in %s holds the others' share only (each generator's error is in it), and says nothing of the target's part in the loss",
		len(lost), len(res.Generators), strings.Join(lost, ", "), path).
		Try("crmplan status   # then crmplan verify again")
}
