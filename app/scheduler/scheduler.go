// Package scheduler is the job scheduler role (crm scheduler, seed 002's
// ARSCHED). On each job's period it asks a worker to run the job (the
// first worker that answers takes it, so a dead worker does not stop the
// schedule) and announces the tick on the pub/sub queue, where the
// integrator cluster and anyone else subscribed picks it up.
package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Job is a named job and its period.
type Job struct {
	Name  string
	Every time.Duration
}

// ParseJob reads NAME=PERIOD, like report=5m.
func ParseJob(s string) (Job, error) {
	name, every, ok := strings.Cut(s, "=")
	d, err := time.ParseDuration(every)
	if !ok || name == "" || err != nil || d <= 0 {
		return Job{}, fmt.Errorf("a job is NAME=PERIOD like report=5m, got %q", s)
	}
	return Job{Name: name, Every: d}, nil
}

// Config is one scheduler.
type Config struct {
	Jobs    []Job
	Workers []string // worker base URLs: POST /v1/jobs/{job}
	Brokers []string // queue base URLs: the tick goes to Topic on the first that takes it
	Topic   string   // default "schedule"
	// Transport carries the triggers and ticks (the brokers require the
	// stack's service key: stackkey.Key.Transport); nil means the default.
	Transport http.RoundTripper
	// Notify, if set, mails the operators (through crm mail) when a job's
	// trigger fails after having succeeded (or first thing): once per
	// outage, not once per tick.
	Notify func(ctx context.Context, subject, body string) error
	Log    *slog.Logger
}

// Scheduler fires the jobs.
type Scheduler struct {
	cfg      Config
	client   *http.Client
	triggers *prometheus.CounterVec

	mu      sync.Mutex
	failing map[string]bool      // job + " " + target, while its triggers fail
	last    map[string]JobStatus // by job
}

// JobStatus is a job's schedule and its last tick, for the admin console
// (GET /v1/schedule).
type JobStatus struct {
	Job     string            `json:"job"`
	Every   string            `json:"every"`
	LastAt  *time.Time        `json:"last_at,omitempty"`
	Results map[string]string `json:"results,omitempty"` // target (worker, queue) -> ok or the error
}

// New returns a scheduler; Run fires the jobs.
func New(cfg Config, reg prometheus.Registerer) *Scheduler {
	if cfg.Topic == "" {
		cfg.Topic = "schedule"
	}
	s := &Scheduler{cfg: cfg, failing: map[string]bool{}, last: map[string]JobStatus{}, client: &http.Client{Timeout: 10 * time.Minute, Transport: cfg.Transport}, // an export of 25M rows takes a while
		triggers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_scheduler_triggers_total",
			Help: "Job triggers by job, target (worker, queue) and result."}, []string{"job", "target", "result"})}
	if reg != nil {
		reg.MustRegister(s.triggers)
	}
	return s
}

// Run fires every job on its period until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	for _, j := range s.cfg.Jobs {
		go func() {
			t := time.NewTicker(j.Every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case at := <-t.C:
					s.Fire(ctx, j.Name, at)
				}
			}
		}()
	}
	<-ctx.Done()
}

// Handler serves GET /v1/schedule: every job, its period and last tick.
func (s *Scheduler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/schedule", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Schedule())
	})
	return mux
}

// Schedule returns every job's status, in the order of Config.Jobs.
func (s *Scheduler) Schedule() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, 0, len(s.cfg.Jobs))
	for _, j := range s.cfg.Jobs {
		st := s.last[j.Name]
		st.Job, st.Every = j.Name, j.Every.String()
		out = append(out, st)
	}
	return out
}

// Fire runs one tick of job: on a worker, and announced on the queue.
func (s *Scheduler) Fire(ctx context.Context, job string, at time.Time) {
	s.mu.Lock()
	st := s.last[job]
	st.LastAt = &at
	s.last[job] = st
	s.mu.Unlock()
	if len(s.cfg.Workers) > 0 {
		s.count(job, "worker", s.first(ctx, s.cfg.Workers, "/v1/jobs/"+job, nil))
	}
	if len(s.cfg.Brokers) > 0 {
		tick, _ := json.Marshal(map[string]any{"job": job, "at": at.UTC()})
		s.count(job, "queue", s.first(ctx, s.cfg.Brokers, "/v1/topics/"+s.cfg.Topic+"/messages", tick))
	}
}

func (s *Scheduler) count(job, target string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
		s.cfg.Log.Error("trigger", "job", job, "target", target, "err", err)
	}
	s.triggers.WithLabelValues(job, target, result).Inc()
	s.mu.Lock()
	st := s.last[job]
	if st.Results == nil {
		st.Results = map[string]string{}
	}
	st.Results[target] = result
	if err != nil {
		st.Results[target] = err.Error()
	}
	s.last[job] = st
	k := job + " " + target
	first := err != nil && !s.failing[k]
	s.failing[k] = err != nil
	s.mu.Unlock()
	if first && s.cfg.Notify != nil {
		s.notify(job, target, err)
	}
}

// notify mails the first failure of a job's trigger. The tick goes on
// meanwhile: a relay out of reach is logged, not waited for.
func (s *Scheduler) notify(job, target string, cause error) {
	subject := fmt.Sprintf("crm scheduler: job %s failed (%s)", job, target)
	body := fmt.Sprintf("The scheduler could not trigger job %q on any %s at %s:\n\n%v\n\n"+
		"It keeps trying on the job's period; no further mail is sent until a trigger succeeds and fails again.\n",
		job, target, time.Now().UTC().Format(time.RFC3339), cause)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.cfg.Notify(ctx, subject, body); err != nil {
			s.cfg.Log.Error("notify", "job", job, "err", err)
		}
	}()
}

// first POSTs to the bases in order until one answers 2xx.
func (s *Scheduler) first(ctx context.Context, bases []string, path string, body []byte) error {
	var errs []string
	for _, base := range bases {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		res, err := s.client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("%s", res.Status)
		}
		errs = append(errs, base+": "+err.Error())
	}
	return fmt.Errorf("no target took it: %s", strings.Join(errs, "; "))
}
