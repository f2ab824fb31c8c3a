// Package worker runs the CRM's back-end jobs (seed 001's job server):
// contacts CSV files dropped into an inbox are imported (the integration
// and migration path), and on a schedule the pipeline report is computed
// from the replica and stored for the API, and contacts are exported to an
// outbox. Several workers may share an inbox: a file is claimed by an
// atomic rename, so each is imported once.
package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/store"
)

// Config says where files are and how often jobs run.
type Config struct {
	Inbox  string // contacts CSV files to import; "" disables imports
	Outbox string // reports and exports are written here; "" disables files
	// ImportOwner is the e-mail of the user who owns the contacts of a
	// file with no owner beside it (NAME.csv.owner holds a user id; crm
	// etl writes one for every upload): files put into the inbox on the
	// host itself.
	ImportOwner string
	PollEvery   time.Duration // inbox scan interval; default 2 s
	ReportEvery time.Duration // pipeline snapshot interval; 0 disables
	ExportEvery time.Duration // contacts export interval; 0 disables
	// StateFile records when each recurring job last ran, so that a
	// restarted worker keeps the schedule: a job comes due one period
	// after its last run, not after the restart (a worker restarted more
	// often than an hourly export's period would never export). "" keeps
	// no record: the schedule starts over with every start.
	StateFile string
	MaxRows   int // per CSV file; default 1,000,000
	// DrainFor bounds how long a stopping worker (Run's ctx ended) goes
	// on with the job in hand; default 10 s, within the supervisor's 15 s
	// before SIGKILL.
	DrainFor time.Duration
	Log      *slog.Logger
}

// Worker runs the jobs.
type Worker struct {
	store *store.Store
	cfg   Config
	jobs  *prometheus.CounterVec
}

// New returns a worker; reg receives crm_worker_jobs_total{job,result}.
func New(s *store.Store, cfg Config, reg prometheus.Registerer) *Worker {
	if cfg.PollEvery == 0 {
		cfg.PollEvery = 2 * time.Second
	}
	if cfg.MaxRows == 0 {
		cfg.MaxRows = 1_000_000
	}
	if cfg.DrainFor == 0 {
		cfg.DrainFor = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{store: s, cfg: cfg, jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_worker_jobs_total", Help: "Jobs run by the worker.",
	}, []string{"job", "result"})}
	if reg != nil {
		reg.MustRegister(w.jobs)
	}
	return w
}

// Run runs the jobs until ctx ends. A failing job is logged and retried at
// its next turn; it does not stop the others.
//
// A stop drains: the job in hand goes on for up to DrainFor after ctx
// ends, and no new one starts. A worker stopped because its tier scaled in
// would otherwise fail its import midway: the file lands in failed/ and
// its rows are never loaded.
func (w *Worker) Run(ctx context.Context) error {
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(w.cfg.DrainFor, cancelJobs) })
	defer stopDrain()
	return w.run(ctx, jobCtx)
}

// run is Run with the jobs under jobCtx, which outlives ctx by the drain.
func (w *Worker) run(ctx, jobCtx context.Context) error {
	for _, dir := range []string{w.cfg.Inbox, w.cfg.Outbox} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return app.Errorf(app.EINVALID, "%w", err)
			}
		}
	}
	poll := time.NewTicker(w.cfg.PollEvery)
	defer poll.Stop()
	jobs := map[string]recurring{
		"report": {w.cfg.ReportEvery, true, w.Report},
		"export": {w.cfg.ExportEvery, false, func(ctx context.Context) error { _, err := w.Export(ctx); return err }},
	}
	runs := w.loadRuns()
	due := make(chan string, len(jobs)) // a job has one timer pending at most
	timers := map[string]*time.Timer{}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	start := time.Now()
	for name, j := range jobs {
		if j.every <= 0 {
			continue
		}
		last, ok := runs[name]
		if !ok && !j.atStart {
			last = start // never ran: first due one period from now
		}
		timers[name] = time.AfterFunc(time.Until(last.Add(j.every)), func() { due <- name })
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if w.cfg.Inbox != "" {
				if _, err := w.importInbox(ctx, jobCtx); err != nil {
					w.cfg.Log.Error("import", "err", err)
				}
			}
		case name := <-due:
			if ctx.Err() != nil {
				return nil // stopping: no new job
			}
			j := jobs[name]
			runs[name] = time.Now()
			w.record(name, j.run(jobCtx))
			w.saveRuns(runs)
			timers[name].Reset(time.Until(runs[name].Add(j.every)))
		}
	}
}

// recurring is a scheduled job: its period, whether a worker that never
// ran it runs it at once (the report the API serves), and the job.
type recurring struct {
	every   time.Duration
	atStart bool
	run     func(context.Context) error
}

// loadRuns reads when each job last ran; none without a state file.
func (w *Worker) loadRuns() map[string]time.Time {
	runs := map[string]time.Time{}
	if w.cfg.StateFile == "" {
		return runs
	}
	b, err := os.ReadFile(w.cfg.StateFile)
	if err != nil && !os.IsNotExist(err) || err == nil && json.Unmarshal(b, &runs) != nil {
		w.cfg.Log.Warn("job schedule state unreadable: the schedule starts over", "file", w.cfg.StateFile, "err", err)
		return map[string]time.Time{}
	}
	return runs
}

// saveRuns records the last runs, replacing the file whole.
func (w *Worker) saveRuns(runs map[string]time.Time) {
	if w.cfg.StateFile == "" {
		return
	}
	b, _ := json.Marshal(runs)
	err := writeAtomic(w.cfg.StateFile, func(f *os.File) error { _, err := f.Write(b); return err })
	if err != nil {
		w.cfg.Log.Error("job schedule state", "file", w.cfg.StateFile, "err", err)
	}
}

func (w *Worker) record(job string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
		w.cfg.Log.Error(job, "err", err)
	}
	w.jobs.WithLabelValues(job, result).Inc()
}

// ImportInbox imports every *.csv file in the inbox: done files move to
// inbox/done, bad ones to inbox/failed with a .error file beside them.
func (w *Worker) ImportInbox(ctx context.Context) (int64, error) {
	return w.importInbox(ctx, ctx)
}

// importInbox is ImportInbox that claims no further file once ctx ends,
// and imports each under jobCtx.
func (w *Worker) importInbox(ctx, jobCtx context.Context) (int64, error) {
	files, err := filepath.Glob(filepath.Join(w.cfg.Inbox, "*.csv"))
	if err != nil || len(files) == 0 {
		return 0, err
	}
	var total int64
	for _, f := range files {
		if ctx.Err() != nil {
			break // stopping: the files left are the next worker's
		}
		n, err := w.importFile(jobCtx, f)
		w.record("import", err)
		total += n
	}
	return total, nil
}

// ownerSuffix names the file beside a CSV that holds its owner's user id
// (app/etl.OwnerSuffix).
const ownerSuffix = ".owner"

// owner is the user whose contacts the rows of the claimed file csv
// become: the one named beside it (who uploaded it), else ImportOwner.
// crm etl writes the owner file before the CSV, so whoever claimed the CSV
// finds it.
func (w *Worker) owner(ctx context.Context, csv string) (int64, error) {
	b, err := os.ReadFile(csv + ownerSuffix)
	if err == nil {
		_ = os.Remove(csv + ownerSuffix)
		id, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("owner of %s: %q is not a user id", filepath.Base(csv), b)
		}
		return id, nil
	}
	u, err := w.store.UserByEmail(ctx, w.cfg.ImportOwner)
	if err != nil {
		return 0, fmt.Errorf("import owner %s: %w", w.cfg.ImportOwner, err)
	}
	return u.ID, nil
}

func (w *Worker) importFile(ctx context.Context, path string) (int64, error) {
	claimed := filepath.Join(w.cfg.Inbox, "processing", filepath.Base(path))
	if err := os.MkdirAll(filepath.Dir(claimed), 0o750); err != nil {
		return 0, err
	}
	if err := os.Rename(path, claimed); err != nil {
		return 0, nil // another worker claimed it
	}
	owner, err := w.owner(ctx, path)
	var n int64
	if err == nil {
		n, err = w.importCSV(ctx, claimed, owner)
	}
	dest := "done"
	if err != nil {
		dest = "failed"
	}
	final := filepath.Join(w.cfg.Inbox, dest, time.Now().UTC().Format("20060102T150405Z-")+filepath.Base(path))
	if merr := os.MkdirAll(filepath.Dir(final), 0o750); merr == nil {
		_ = os.Rename(claimed, final)
		if err != nil {
			_ = os.WriteFile(final+".error", []byte(err.Error()+"\n"), 0o640)
		}
	}
	w.cfg.Log.Info("import", "file", filepath.Base(path), "imported", n, "result", dest)
	return n, err
}

func (w *Worker) importCSV(ctx context.Context, path string, owner int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cols, rows, err := app.ParseContactsCSV(f, w.cfg.MaxRows)
	if err != nil {
		return 0, err
	}
	return w.store.ImportContacts(ctx, owner, cols, rows)
}

// Report stores a pipeline snapshot and writes it to the outbox.
func (w *Worker) Report(ctx context.Context) error {
	if w.cfg.ReportEvery <= 0 {
		return nil
	}
	rep, err := w.store.SnapshotPipeline(ctx)
	if err != nil {
		return err
	}
	if w.cfg.Outbox == "" {
		return nil
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	return writeAtomic(filepath.Join(w.cfg.Outbox, "pipeline-"+stamp()+".json"), func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}

// Export writes all contacts to outbox/contacts-<time>.csv.
func (w *Worker) Export(ctx context.Context) (int64, error) {
	if w.cfg.Outbox == "" {
		return 0, nil
	}
	admin := &app.Principal{User: app.User{Role: app.RoleAdmin}, Via: "worker"}
	var n int64
	err := writeAtomic(filepath.Join(w.cfg.Outbox, "contacts-"+stamp()+".csv"), func(f *os.File) error {
		var err error
		n, err = w.store.ExportContacts(ctx, admin, f)
		return err
	})
	return n, err
}

func stamp() string { return time.Now().UTC().Format("20060102T150405.000Z") }

// writeAtomic writes a file under a temporary name and renames it, so a
// reader of the outbox never sees half a file.
func writeAtomic(path string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
