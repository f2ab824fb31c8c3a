package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// steadyScenario is the name of the generated script's measured phase.
const steadyScenario = "steady"

// sample is one HTTP request as k6's JSON output reports it.
type sample struct {
	at       time.Time
	ms       float64
	class    string
	scenario string
	method   string
	failed   bool
	kind     string // error kind when failed
	ledger   string // key of the record a create carried (sample metadata), "" for other requests
}

// pointLine is one line of k6's JSON output (--out json=FILE), read as
// the load generators read it.
type pointLine = agent.K6Point

// points is what the time series and per-class figures are computed from.
type points struct {
	requests []sample
	dropped  []time.Time // when k6 dropped iterations
	droppedN int64
}

// readPoints reads k6's JSON output. It keeps http_req_duration (one point
// per request, with the request's tags) and dropped_iterations, and skips the
// dozen other metrics k6 writes per request.
func readPoints(r io.Reader) (points, error) {
	var p points
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		// A cheap filter before decoding: most lines are other metrics.
		if !bytes.Contains(b, []byte(`"http_req_duration"`)) && !bytes.Contains(b, []byte(`"dropped_iterations"`)) {
			continue
		}
		var pl pointLine
		if err := json.Unmarshal(b, &pl); err != nil {
			return points{}, fmt.Errorf("k6 JSON output line %d: %w", line, err)
		}
		if pl.Type != "Point" {
			continue
		}
		switch pl.Metric {
		case "http_req_duration":
			p.requests = append(p.requests, requestSample(pl))
		case "dropped_iterations":
			p.dropped = append(p.dropped, pl.Data.Time)
			p.droppedN += int64(pl.Data.Value)
		}
	}
	if err := sc.Err(); err != nil {
		return points{}, fmt.Errorf("k6 JSON output: %w", err)
	}
	sort.SliceStable(p.requests, func(i, j int) bool { return p.requests[i].at.Before(p.requests[j].at) })
	p.markSteady()
	return p, nil
}

func requestSample(pl pointLine) sample {
	t := pl.Data.Tags
	s := sample{
		at:       pl.Data.Time,
		ms:       pl.Data.Value,
		class:    t["class"],
		scenario: t["scenario"],
		method:   t["method"],
		failed:   t["expected_response"] == "false",
		ledger:   pl.Data.Metadata["ledger"],
	}
	if s.failed {
		s.kind = wire.ErrorKind(t["status"], t["error_code"])
	}
	return s
}

// percentiles computes what k6 reports, with k6's interpolation between the
// two nearest ranks.
func percentiles(ms []float64) Percentiles {
	if len(ms) == 0 {
		return Percentiles{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Percentiles{
		MeanMs: sum / float64(len(s)),
		P50Ms:  rank(s, 0.50),
		P90Ms:  rank(s, 0.90),
		P95Ms:  rank(s, 0.95),
		P99Ms:  rank(s, 0.99),
		MaxMs:  s[len(s)-1],
	}
}

func rank(sorted []float64, p float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	i := p * float64(len(sorted)-1)
	lo := math.Floor(i)
	frac := i - lo
	if int(lo)+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[int(lo)] + frac*(sorted[int(lo)+1]-sorted[int(lo)])
}

// markSteady treats every request as measured when the script (a user's
// edited one) has no steady scenario, as the summary does.
func (p *points) markSteady() {
	for _, s := range p.requests {
		if s.scenario == steadyScenario {
			return
		}
	}
	for i := range p.requests {
		p.requests[i].scenario = steadyScenario
	}
}

// steadyWindow returns the first and last request of the steady phase.
func (p points) steadyWindow() (first, last time.Time, ok bool) {
	for _, s := range p.requests {
		if s.scenario != steadyScenario {
			continue
		}
		if !ok {
			first, ok = s.at, true
		}
		last = s.at
	}
	return first, last, ok
}

// byClass measures each request class over the steady phase.
func (p points) byClass() map[string]ClassResult {
	lat := map[string][]float64{}
	out := map[string]ClassResult{}
	for _, s := range p.requests {
		if s.scenario != steadyScenario {
			continue
		}
		c := out[s.class]
		c.Requests++
		if s.failed {
			c.Failed++
		}
		out[s.class] = c
		lat[s.class] = append(lat[s.class], s.ms)
	}
	for name, c := range out {
		c.Latency = percentiles(lat[name])
		out[name] = c
	}
	return out
}

// errorsByKind counts the steady phase's failures by kind.
func (p points) errorsByKind() map[string]int64 {
	out := map[string]int64{}
	for _, s := range p.requests {
		if s.scenario == steadyScenario && s.failed {
			out[s.kind]++
		}
	}
	return out
}

// series buckets all requests (ramp-up included, so the chart shows it) into
// intervals of step since start.
func (p points) series(start time.Time, step time.Duration) []SeriesPoint {
	if len(p.requests) == 0 || step <= 0 {
		return nil
	}
	type bucket struct {
		ms     []float64
		errors int64
	}
	var buckets []bucket
	for _, s := range p.requests {
		i := int(s.at.Sub(start) / step)
		if i < 0 {
			continue
		}
		for len(buckets) <= i {
			buckets = append(buckets, bucket{})
		}
		buckets[i].ms = append(buckets[i].ms, s.ms)
		if s.failed {
			buckets[i].errors++
		}
	}
	out := make([]SeriesPoint, len(buckets))
	for i, b := range buckets {
		out[i] = SeriesPoint{
			AtS:    (time.Duration(i+1) * step).Seconds(),
			Rate:   float64(len(b.ms)) / step.Seconds(),
			P95Ms:  percentiles(b.ms).P95Ms,
			Errors: b.errors,
		}
	}
	return out
}
