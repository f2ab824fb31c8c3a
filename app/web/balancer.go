package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmplan/crmplan/app"
)

// Mode is how requests are spread over healthy backends.
type Mode string

const (
	Balance  Mode = "balance"  // round robin
	Failover Mode = "failover" // the first healthy backend in the given order (active-passive)
)

type backend struct {
	url     *url.URL
	healthy atomic.Bool
	oks     atomic.Int32 // consecutive good health checks while ejected
	slow    atomic.Int32 // consecutive health checks that timed out
	// drained takes the backend out of rotation by an operator's request
	// (a rolling deploy), whatever its health; inflight counts the
	// requests it still serves, so a drain can wait for them.
	drained  atomic.Bool
	inflight atomic.Int64
}

// inRotation says whether be gets new requests: healthy and not drained.
func (be *backend) inRotation() bool { return be.healthy.Load() && !be.drained.Load() }

// Balancer proxies /api to api backends: active health checks eject a
// backend within a second of failing, a refused or broken connection
// ejects it at once, and idempotent requests without a body are retried
// on another backend.
type Balancer struct {
	// backends is replaced whole by SetBackends (a scale-out or -in) while
	// requests and health checks read it: read it through list.
	backends atomic.Pointer[[]*backend]
	setMu    sync.Mutex // one SetBackends at a time
	mode     Mode
	next     atomic.Uint64
	proxy    *httputil.ReverseProxy
	check    *http.Client
	log      *slog.Logger
	interval time.Duration
	// drainGrace is how long Drain waits for another backend in rotation
	// (the const drainGrace; tests shorten it).
	drainGrace time.Duration
	up         *prometheus.GaugeVec
	retries    prometheus.Counter
	// onEject, when set (OnEject), hears of a backend that fails while
	// in rotation.
	onEject func(backend string, why error)
}

type pickKey struct{}

// NewBalancer returns a balancer over backend base URLs (http://host:port).
// Until the first health check, every backend counts as healthy.
func NewBalancer(urls []string, mode Mode, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) (*Balancer, error) {
	parsed, err := parseBackends(urls)
	if err != nil {
		return nil, err
	}
	if mode != Balance && mode != Failover {
		return nil, app.Errorf(app.EINVALID, "must be balance or failover, got %q", mode).In("--mode")
	}
	b := &Balancer{mode: mode, log: log, interval: interval, drainGrace: drainGrace}
	list := make([]*backend, len(parsed))
	for i, u := range parsed {
		list[i] = &backend{url: u}
		list[i].healthy.Store(true)
	}
	b.backends.Store(&list)
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	b.check = &http.Client{Transport: transport, Timeout: interval * 2}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "backend" // the transport picks the real one
		},
		Transport:    &retrying{b: b, base: transport},
		ErrorHandler: b.proxyError,
	}
	b.up = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crm_lb_backend_up", Help: "1 if the api backend passes health checks."}, []string{"backend"})
	b.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "crm_lb_retries_total", Help: "Requests retried on another backend."})
	if reg != nil {
		reg.MustRegister(b.up, b.retries)
	}
	return b, nil
}

// parseBackends checks backend base URLs.
func parseBackends(urls []string) ([]*url.URL, error) {
	if len(urls) == 0 {
		return nil, app.Errorf(app.EINVALID, "at least one backend is required").In("--backend")
	}
	out := make([]*url.URL, 0, len(urls))
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, app.Errorf(app.EINVALID, "must be a URL like http://127.0.0.1:8081, got %q", s).In("--backend")
		}
		out = append(out, u)
	}
	return out, nil
}

// list is the current set of backends.
func (b *Balancer) list() []*backend { return *b.backends.Load() }

// ServeHTTP proxies one request.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.proxy.ServeHTTP(w, r) }

// Healthy returns the number of backends in rotation.
func (b *Balancer) Healthy() int {
	n := 0
	for _, be := range b.list() {
		if be.healthy.Load() {
			n++
		}
	}
	return n
}

// Ready fails when no backend is healthy.
func (b *Balancer) Ready(context.Context) error {
	if b.Healthy() == 0 {
		return app.Errorf(app.EUNAVAILABLE, "no healthy api backend")
	}
	return nil
}

// pick returns the next healthy backend other than those tried, or nil.
func (b *Balancer) pick(tried []*backend) *backend {
	list := b.list()
	n := len(list)
	start := 0
	if b.mode == Balance {
		start = int(b.next.Add(1) % uint64(n))
	}
	var fallback *backend
	for i := range n {
		be := list[(start+i)%n]
		if slices.Contains(tried, be) || be.drained.Load() {
			continue
		}
		if be.healthy.Load() {
			return be
		}
		if fallback == nil {
			fallback = be
		}
	}
	// All untried backends are ejected: try one anyway rather than fail
	// outright; a health check may simply not have run yet.
	return fallback
}

func (b *Balancer) eject(be *backend, why error) {
	if be.healthy.Swap(false) {
		b.log.Warn("backend ejected", "backend", be.url.String(), "err", why)
		b.up.WithLabelValues(be.url.String()).Set(0)
		if b.onEject != nil && !be.drained.Load() {
			b.onEject(be.url.String(), why)
		}
	}
	be.oks.Store(0)
}

// OnEject has f called, once per outage, with a backend that fails while
// in rotation (a drained one restarting for a deploy is no news), from the
// goroutine that noticed: f must not block. Call it before Run.
func (b *Balancer) OnEject(f func(backend string, why error)) { b.onEject = f }

// retrying is the proxy's transport: it sends a request to a backend and,
// when that fails before a response and the request may be repeated,
// to another.
type retrying struct {
	b    *Balancer
	base http.RoundTripper
}

func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	var tried []*backend
	for {
		be := t.b.pick(tried)
		if be == nil {
			return nil, errNoBackend
		}
		tried = append(tried, be)
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = be.url.Scheme, be.url.Host, be.url.Host
		be.inflight.Add(1)
		resp, err := t.base.RoundTrip(out)
		if err == nil {
			// The request is in flight until its body is read and closed.
			resp.Body = &inflightBody{ReadCloser: resp.Body, be: be}
			return resp, nil
		}
		be.inflight.Add(-1)
		if req.Context().Err() != nil {
			return nil, err
		}
		t.b.eject(be, err)
		if !retryable(req, err) {
			return nil, err
		}
		t.b.retries.Inc()
	}
}

var errNoBackend = errors.New("no api backend left to try")

// inflightBody ends a backend's in-flight request when the proxy closes
// the response body.
type inflightBody struct {
	io.ReadCloser
	be   *backend
	done atomic.Bool
}

func (b *inflightBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.done.Swap(true) {
		b.be.inflight.Add(-1)
	}
	return err
}

// retryable: requests without a body whose method is safe to repeat, and
// any request whose connection was refused (it never reached a backend).
func retryable(req *http.Request, err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return req.ContentLength <= 0
	}
	return false
}

func (b *Balancer) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	b.log.Warn("proxy failed", "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	body := map[string]any{"error": map[string]string{"code": app.EUNAVAILABLE, "message": "no api server could answer; try again"}}
	_ = json.NewEncoder(w).Encode(body)
}

// slowChecks is how many health checks in a row must time out before the
// backend is ejected. One slow /readyz is what a busy api server gives (its
// check waits in the same database pool as its requests), and ejecting it
// for that moved its load onto the others, which then answered their own
// checks late: under load the tier emptied one server at a time. A check
// that is answered with an error, or refused, still ejects at once, and a
// hung server is out within about two intervals more.
const slowChecks = 2

// Run checks every backend's /readyz each interval until ctx ends. A
// failed check ejects a backend (a timed-out one only when slowChecks
// time out in a row); two good ones in a row bring it back.
func (b *Balancer) Run(ctx context.Context) {
	tick := time.NewTicker(b.interval)
	defer tick.Stop()
	for {
		for _, be := range b.list() {
			go b.checkOne(ctx, be)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (b *Balancer) checkOne(ctx context.Context, be *backend) {
	ctx, cancel := context.WithTimeout(ctx, b.interval*2)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, be.url.JoinPath("/readyz").String(), nil)
	resp, err := b.check.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
	}
	if ctx.Err() != nil && err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	if err != nil {
		if timedOut(err) && be.slow.Add(1) < slowChecks {
			return
		}
		b.eject(be, err)
		return
	}
	be.slow.Store(0)
	if !be.healthy.Load() && be.oks.Add(1) >= 2 {
		be.healthy.Store(true)
		b.log.Info("backend back in rotation", "backend", be.url.String())
	}
	if be.healthy.Load() {
		b.up.WithLabelValues(be.url.String()).Set(1)
	}
}

// timedOut says whether a health check failed for want of an answer in
// time, rather than with one.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
