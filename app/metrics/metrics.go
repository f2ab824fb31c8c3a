// Package metrics exposes what every crm role reports to Prometheus: HTTP
// requests and their latency per route, the process (CPU, memory) and Go
// runtime, and pgx pool statistics.
//
// Series (role is api, web or worker):
//
//	crm_http_requests_total{role,route,code}            counter
//	crm_http_request_duration_seconds{role,route}       histogram
//	crm_db_pool_connections{role,pool,state}            gauge (acquired, idle, total, max)
//	crm_db_pool_acquire_wait_seconds_total{role,pool}   counter
//	crm_search_steps_total{step}                        counter (api: sort, walk, count)
//	process_cpu_seconds_total, go_*                     standard collectors
//
// route is the ServeMux pattern that matched, e.g. "GET /api/v1/accounts/{id}";
// requests that matched none are counted under "unmatched".
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Buckets suit a CRM whose target is p95 < 100 ms.
var Buckets = []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10}

// Metrics is one role's registry.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a registry with the process and Go collectors and the HTTP
// series, each labelled with role.
func New(role string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	constLabels := prometheus.Labels{"role": role}
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_http_requests_total", Help: "HTTP requests by route and status code.", ConstLabels: constLabels,
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crm_http_request_duration_seconds", Help: "HTTP request latency by route.", ConstLabels: constLabels, Buckets: Buckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Observe wraps a handler whose routing is done by a ServeMux inside it: the
// mux records the matched pattern on the request, read here afterwards.
func (m *Metrics) Observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &StatusWriter{ResponseWriter: w, Status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.Status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// StatusWriter remembers the status code written through it.
type StatusWriter struct {
	http.ResponseWriter
	Status int
	wrote  bool
}

func (w *StatusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.Status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AddPools reports the statistics of the pgx pools pools returns, by
// name, asked at every scrape: an api server replaces its pools when its
// pool size changes (their counters then start again from 0).
func (m *Metrics) AddPools(pools func() map[string]*pgxpool.Pool) {
	m.Registry.MustRegister(poolCollector{pools: pools})
}

var (
	poolConns = prometheus.NewDesc("crm_db_pool_connections", "pgx pool connections by state.", []string{"pool", "state"}, nil)
	poolWait  = prometheus.NewDesc("crm_db_pool_acquire_wait_seconds_total", "Time spent waiting for a pool connection.", []string{"pool"}, nil)
	poolEmpty = prometheus.NewDesc("crm_db_pool_empty_acquires_total", "Acquires that had to wait for a connection.", []string{"pool"}, nil)
)

type poolCollector struct {
	pools func() map[string]*pgxpool.Pool
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolWait
	ch <- poolEmpty
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, p := range c.pools() {
		s := p.Stat()
		for state, v := range map[string]int32{"acquired": s.AcquiredConns(), "idle": s.IdleConns(), "total": s.TotalConns(), "max": s.MaxConns()} {
			ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(v), name, state)
		}
		ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireDuration().Seconds(), name)
		ch <- prometheus.MustNewConstMetric(poolEmpty, prometheus.CounterValue, float64(s.EmptyAcquireCount()), name)
	}
}

// AddSearchSteps reports how an api server's store answered searches
// (?q=), asked at every scrape: the count step is the one that is costly
// on a large table, and should stay rare.
func (m *Metrics) AddSearchSteps(steps func() map[string]uint64) {
	m.Registry.MustRegister(stepCollector{steps: steps})
}

var searchSteps = prometheus.NewDesc("crm_search_steps_total", "Steps the store took to answer searches: the sort of the matches, a walk of the sort index, a count of the matches.", []string{"step"}, nil)

type stepCollector struct {
	steps func() map[string]uint64
}

func (c stepCollector) Describe(ch chan<- *prometheus.Desc) { ch <- searchSteps }

func (c stepCollector) Collect(ch chan<- prometheus.Metric) {
	for step, n := range c.steps() {
		ch <- prometheus.MustNewConstMetric(searchSteps, prometheus.CounterValue, float64(n), step)
	}
}
