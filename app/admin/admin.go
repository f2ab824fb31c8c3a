// Package admin is the web admin console (crm admin, seed 002's ARWADM):
// a page over the integrator cluster's state, gathered when asked from the
// roles themselves: its members (each integrator's readiness) and the
// calls they forwarded by client (from the key-value store), the brokers'
// queue depths and forwarding backlogs, and the scheduler's jobs with
// their last tick. It runs n per cluster behind the access proxy, under
// /admin/, and takes only the operator holding the stack's service key
// (HTTP Basic, user "admin"): what it shows is the cluster's inside.
package admin

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// User is the console's user name; the password is the service key.
const User = "admin"

// Config is one console.
type Config struct {
	Integrators []string // integrator base URLs, until SetIntegrators
	Brokers     []string // queue base URLs
	Schedulers  []string // scheduler base URLs
	// Calls returns the cluster's calls by client (kv.Client.Calls); nil
	// without a store.
	Calls    func(ctx context.Context) (map[string]int64, error)
	Password string
	// Client asks the roles; its transport presents the service key,
	// which the brokers and the scheduler require.
	Client *http.Client
	Log    *slog.Logger
}

// Console serves the page and its JSON.
type Console struct {
	cfg  Config
	page *template.Template

	mu          sync.Mutex
	integrators []string
}

//go:embed page.html
var pageFS embed.FS

// New returns a console.
func New(cfg Config) *Console {
	return &Console{cfg: cfg, page: template.Must(template.ParseFS(pageFS, "page.html")), integrators: slices.Clone(cfg.Integrators)}
}

// SetIntegrators makes urls the cluster's members from the next Cluster
// on: an integrator added to the tier is discovered, one removed is no
// longer asked, and the console keeps running (seed 002: "a new ARSRV can
// be added without any downtime ... automatically discovered").
func (c *Console) SetIntegrators(urls []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.integrators = slices.Clone(urls)
}

// Integrators returns the members the console asks.
func (c *Console) Integrators() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.integrators)
}

// Cluster is what the console shows.
type Cluster struct {
	At        time.Time        `json:"at"`
	Members   []Member         `json:"members"`
	Calls     map[string]int64 `json:"calls"` // by client, the whole cluster's
	Queues    []Queue          `json:"queues"`
	Schedules []Schedule       `json:"schedules"`
	Errors    []string         `json:"errors,omitempty"` // what could not be asked
}

// Member is one integrator.
type Member struct {
	URL    string `json:"url"`
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// Queue is one broker's topics and backlog (queue.Stats).
type Queue struct {
	URL    string `json:"url"`
	Broker string `json:"broker"`
	Topics map[string]struct {
		Retained int    `json:"retained"`
		LastSeq  uint64 `json:"last_seq"`
	} `json:"topics"`
	Backlog map[string]int `json:"backlog"`
}

// Schedule is one scheduler's jobs (scheduler.JobStatus).
type Schedule struct {
	URL  string `json:"url"`
	Jobs []struct {
		Job     string            `json:"job"`
		Every   string            `json:"every"`
		LastAt  *time.Time        `json:"last_at,omitempty"`
		Results map[string]string `json:"results,omitempty"`
	} `json:"jobs"`
}

// Handler serves GET /admin/ (the page) and GET /admin/v1/cluster (JSON).
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) {
		cl := c.Cluster(r.Context())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := c.page.Execute(w, cl); err != nil {
			c.cfg.Log.Warn("admin page", "err", err)
		}
	})
	mux.HandleFunc("GET /admin/v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.Cluster(r.Context()))
	})
	return c.authenticate(mux)
}

func (c *Console) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(User)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(c.cfg.Password)) == 1
		if !ok || !userOK || !passOK || c.cfg.Password == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="crm admin", charset="UTF-8"`)
			http.Error(w, "sign in as admin with the stack's service key (crmplan's inventory holds it)", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// Cluster asks every role at once, each for at most 2 s.
func (c *Console) Cluster(ctx context.Context) Cluster {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	integrators := c.Integrators()
	cl := Cluster{At: time.Now().UTC(), Members: make([]Member, len(integrators)),
		Queues: make([]Queue, len(c.cfg.Brokers)), Schedules: make([]Schedule, len(c.cfg.Schedulers))}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		cl.Errors = append(cl.Errors, err.Error())
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i, u := range integrators {
		wg.Go(func() { cl.Members[i] = c.member(ctx, u) })
	}
	for i, u := range c.cfg.Brokers {
		wg.Go(func() {
			cl.Queues[i].URL = u
			if err := c.get(ctx, u+"/v1/topics", &cl.Queues[i]); err != nil {
				fail(err)
			}
		})
	}
	for i, u := range c.cfg.Schedulers {
		wg.Go(func() {
			cl.Schedules[i].URL = u
			if err := c.get(ctx, u+"/v1/schedule", &cl.Schedules[i].Jobs); err != nil {
				fail(err)
			}
		})
	}
	if c.cfg.Calls != nil {
		wg.Go(func() {
			calls, err := c.cfg.Calls(ctx)
			if err != nil {
				fail(fmt.Errorf("key-value store: %w", err))
			}
			cl.Calls = calls
		})
	}
	wg.Wait()
	sort.Strings(cl.Errors)
	return cl
}

func (c *Console) member(ctx context.Context, u string) Member {
	m := Member{URL: u}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/readyz", nil)
	if err != nil {
		m.Reason = err.Error()
		return m
	}
	res, err := c.cfg.Client.Do(req)
	if err != nil {
		m.Reason = err.Error()
		return m
	}
	defer res.Body.Close()
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	m.Ready, m.Reason = res.StatusCode == http.StatusOK, body.Reason
	return m
}

func (c *Console) get(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := c.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}
