package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Host is a server whose /metrics verify scrapes during the run. A host
// without /metrics (PostgreSQL) can be measured by the CPU time of a local
// process and its children instead: PID.
type Host struct {
	Name       string
	Role       string
	MetricsURL string
	PID        int // a local process to read from /proc when MetricsURL is empty
	Cores      int // cores of the host, for utilization per core; 0 means 1
}

// hostSample is one scrape of one host.
type hostSample struct {
	at       time.Time
	cpu      float64 // process_cpu_seconds_total
	requests float64 // request counter, summed over its labels
	durSum   float64 // request latency histogram, seconds
	durCount float64
	ok       bool
}

// scraper polls every host's /metrics at an interval, keeping the samples.
type scraper struct {
	client   *http.Client
	hosts    []Host
	interval time.Duration

	// idleFrom and idleTo bound the scrapes taken before the load began;
	// zero without an idle window.
	idleFrom, idleTo time.Time
	// bgFrom and bgTo bound the scrapes taken while the ETL jobs ran
	// alone; etl is what the jobs did (set when the run stops), etlErr why
	// there were none.
	bgFrom, bgTo time.Time
	etl          *BackgroundClass
	etlErr       string

	// busy reads the whole machine's busy CPU seconds (Machine.Busy), nil
	// when the stack does not share this machine with the generator;
	// machine holds its samples, in time order.
	busy    func() (float64, error)
	machine []hostSample

	mu      sync.Mutex
	samples map[string][]hostSample // by host name
	errs    map[string]string       // last scrape error by host name
}

func newScraper(hosts []Host, interval time.Duration) *scraper {
	return &scraper{
		client:   &http.Client{Timeout: 2 * time.Second},
		hosts:    hosts,
		interval: interval,
		samples:  map[string][]hostSample{},
		errs:     map[string]string{},
	}
}

// run scrapes until ctx is done, then once more so the last sample is taken
// after the load stopped.
func (s *scraper) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.scrapeAll(context.Background())
	for {
		select {
		case <-ctx.Done():
			s.scrapeAll(context.Background())
			return
		case <-t.C:
			s.scrapeAll(ctx)
		}
	}
}

func (s *scraper) scrapeAll(ctx context.Context) {
	var wg sync.WaitGroup
	if s.busy != nil {
		if cpu, err := s.busy(); err == nil {
			s.mu.Lock()
			s.machine = append(s.machine, hostSample{at: time.Now(), cpu: cpu, ok: true})
			s.mu.Unlock()
		}
	}
	for _, h := range s.hosts {
		if h.MetricsURL == "" && h.PID <= 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sm, err := s.sample(ctx, h)
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.errs[h.Name] = err.Error()
				return
			}
			s.samples[h.Name] = append(s.samples[h.Name], sm)
		}()
	}
	wg.Wait()
}

func (s *scraper) sample(ctx context.Context, h Host) (hostSample, error) {
	if h.MetricsURL != "" {
		return s.scrape(ctx, h.MetricsURL)
	}
	at := time.Now()
	cpu, err := procCPU(h.PID)
	if err != nil {
		return hostSample{}, fmt.Errorf("pid %d: %w", h.PID, err)
	}
	return hostSample{at: at, cpu: cpu, ok: true}, nil
}

func (s *scraper) scrape(ctx context.Context, url string) (hostSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return hostSample{}, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	at := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return hostSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return hostSample{}, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return hostSample{}, fmt.Errorf("GET %s: %w", url, err)
	}
	return sampleOf(fams, at), nil
}

// sampleOf picks the figures verify needs out of a host's metrics. Which
// request counter a process exports depends on the program, so it takes the
// first family whose name ends in "http_requests_total" (or failing that
// "_requests_total"), and likewise for the latency histogram.
func sampleOf(fams map[string]*dto.MetricFamily, at time.Time) hostSample {
	sm := hostSample{at: at, ok: true}
	if f := fams["process_cpu_seconds_total"]; f != nil {
		sm.cpu = sumValues(f)
	}
	if f := family(fams, dto.MetricType_COUNTER, "http_requests_total", "_requests_total"); f != nil {
		sm.requests = sumValues(f)
	}
	if f := family(fams, dto.MetricType_HISTOGRAM, "http_request_duration_seconds", "_request_duration_seconds"); f != nil {
		for _, m := range f.GetMetric() {
			sm.durSum += m.GetHistogram().GetSampleSum()
			sm.durCount += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sm
}

func family(fams map[string]*dto.MetricFamily, typ dto.MetricType, suffixes ...string) *dto.MetricFamily {
	names := make([]string, 0, len(fams))
	for name := range fams {
		names = append(names, name)
	}
	sort.Strings(names) // the same family every time when several match
	for _, suffix := range suffixes {
		for _, name := range names {
			if strings.HasSuffix(name, suffix) && fams[name].GetType() == typ {
				return fams[name]
			}
		}
	}
	return nil
}

func sumValues(f *dto.MetricFamily) float64 {
	total := 0.0
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Untyped != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

// tiers turns the samples into one measurement per role over [from, to]:
// the window of the steady phase. For each host it takes the first sample
// at or after from and the last at or before to (so ramp-up and the idle
// tail are left out) and uses the differences.
func (s *scraper) tiers(from, to time.Time) ([]TierMeasurement, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type acc struct {
		hosts, measured       int
		util, cpu, throughput float64
		durSum, durCount      float64
		idle, bg              float64
		bgMeasured            bool
	}
	byRole := map[string]*acc{}
	var roles []string
	for _, h := range s.hosts {
		a := byRole[h.Role]
		if a == nil {
			a = &acc{}
			byRole[h.Role] = a
			roles = append(roles, h.Role)
		}
		a.hosts++
		if f, l, ok := window(s.samples[h.Name], s.idleFrom, s.idleTo); ok && !s.idleTo.IsZero() {
			a.idle += (l.cpu - f.cpu) / l.at.Sub(f.at).Seconds()
		}
		if f, l, ok := window(s.samples[h.Name], s.bgFrom, s.bgTo); ok && !s.bgTo.IsZero() {
			a.bg += (l.cpu - f.cpu) / l.at.Sub(f.at).Seconds()
			a.bgMeasured = true
		}
		first, last, ok := window(s.samples[h.Name], from, to)
		if !ok {
			continue
		}
		dt := last.at.Sub(first.at).Seconds()
		cores := float64(max(h.Cores, 1))
		a.measured++
		a.cpu += (last.cpu - first.cpu) / dt
		a.util += (last.cpu - first.cpu) / dt / cores
		a.throughput += (last.requests - first.requests) / dt
		a.durSum += last.durSum - first.durSum
		a.durCount += last.durCount - first.durCount
	}
	var out []TierMeasurement
	for _, role := range roles {
		a := byRole[role]
		if a.measured == 0 {
			continue
		}
		tm := TierMeasurement{Role: role, Hosts: a.hosts, Measured: a.measured, Throughput: a.throughput,
			Utilization: a.util / float64(a.measured), CPU: a.cpu, IdleCPU: a.idle}
		if a.bgMeasured {
			// The background window's CPU above idle; a tier the jobs do
			// not touch reads about zero, and noise below it is zero.
			tm.BackgroundCPU = max(0, a.bg-a.idle)
		}
		if a.durCount > 0 {
			tm.MeanMs = a.durSum / a.durCount * 1000
		}
		out = append(out, tm)
	}
	errs := map[string]string{}
	for k, v := range s.errs {
		errs[k] = v
	}
	return out, errs
}

// window returns the first sample at or after from and the last at or before
// to, when they are at least a second apart.
func window(samples []hostSample, from, to time.Time) (first, last hostSample, ok bool) {
	i := sort.Search(len(samples), func(i int) bool { return !samples[i].at.Before(from) })
	j := sort.Search(len(samples), func(i int) bool { return samples[i].at.After(to) }) - 1
	if i >= len(samples) || j < 0 || j <= i {
		return hostSample{}, hostSample{}, false
	}
	first, last = samples[i], samples[j]
	return first, last, last.at.Sub(first.at) >= time.Second
}

// background is the run's background classes with the CPU each used
// alone, by role, from tiers (sc.tiers' answer), and why a class is
// missing when it is.
func (s *scraper) background(tiers []TierMeasurement) ([]BackgroundClass, string) {
	if s.etl == nil {
		return nil, s.etlErr
	}
	bc := *s.etl
	if !s.bgTo.IsZero() {
		bc.CPU = map[string]float64{}
		for _, t := range tiers {
			if t.BackgroundCPU > 0 {
				bc.CPU[t.Role] = t.BackgroundCPU
			}
		}
	}
	return []BackgroundClass{bc}, s.etlErr
}

// machineCPU is the whole machine's busy CPU, in cores, over the steady
// phase [from, to] and over the idle window, with the hosts' own CPU in
// tiers (sc.tiers' answer) taken out of the idle window's; the steady
// phase's Other waits for the generator's CPU (Result.settleMachine). Nil
// when the machine is not measured.
func (s *scraper) machineCPU(cores int, tiers []TierMeasurement, from, to time.Time) *MachineCPU {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, l, ok := window(s.machine, from, to)
	if !ok {
		return nil
	}
	m := &MachineCPU{Cores: cores, Busy: (l.cpu - f.cpu) / l.at.Sub(f.at).Seconds()}
	if f, l, ok := window(s.machine, s.idleFrom, s.idleTo); ok && !s.idleTo.IsZero() {
		m.IdleBusy = (l.cpu - f.cpu) / l.at.Sub(f.at).Seconds()
		hosts := 0.0
		for _, t := range tiers {
			hosts += t.IdleCPU
		}
		m.IdleOther = max(0, m.IdleBusy-hosts)
	}
	return m
}
