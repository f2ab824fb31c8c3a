package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/store"
	"github.com/crmplan/crmplan/app/store/storetest"
)

func TestWorkerJobs(t *testing.T) {
	s, _ := storetest.Open(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, store.NewUser{Email: "admin@example.com", Name: "A", Role: app.RoleAdmin, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	inbox, outbox := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	w := New(s, Config{Inbox: inbox, Outbox: outbox, ImportOwner: "admin@example.com", ReportEvery: time.Hour, ExportEvery: time.Hour, PollEvery: 20 * time.Millisecond}, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(rctx) }()
	_ = os.MkdirAll(inbox, 0o750)
	if err := os.WriteFile(filepath.Join(inbox, "good.csv"), []byte("first_name,last_name,email\nAnn,Lee,ann@example.com\nBo,Ek,\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "bad.csv"), []byte("first_name,surname\nAnn,Lee\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		done, _ := filepath.Glob(filepath.Join(inbox, "done", "*good.csv"))
		failed, _ := filepath.Glob(filepath.Join(inbox, "failed", "*bad.csv.error"))
		if len(done) == 1 && len(failed) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	errs, _ := filepath.Glob(filepath.Join(inbox, "failed", "*.error"))
	if len(errs) != 1 {
		t.Fatalf("failed imports: %v", errs)
	}
	if b, _ := os.ReadFile(errs[0]); !strings.Contains(string(b), "surname") {
		t.Errorf("error file says %q", b)
	}
	n, err := w.Export(ctx)
	if err != nil || n != 2 {
		t.Fatalf("export %d rows, %v; want the 2 imported", n, err)
	}
	reports, _ := filepath.Glob(filepath.Join(outbox, "pipeline-*.json"))
	if len(reports) == 0 {
		t.Error("no pipeline report in the outbox")
	}
	admin, err := s.PrincipalByID(ctx, ptr(int64(1)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.PipelineReport(ctx, admin, time.Hour)
	if err != nil || len(rep.Stages) != len(app.Stages) {
		t.Errorf("snapshot report %+v, %v", rep, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestScheduleSurvivesRestart: a restarted worker keeps its recurring
// jobs' schedule (seed 001's job server "import, export, and
// scheduling"): an export that came due while it was down runs at once,
// a report that ran a moment ago does not run again at the start, and
// the runs are recorded for the next restart.
func TestScheduleSurvivesRestart(t *testing.T) {
	s, _ := storetest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	outbox, state := filepath.Join(dir, "out"), filepath.Join(dir, "worker-jobs.json")
	now := time.Now()
	// Before the restart: the report ran just now, the export an hour less
	// 300 ms ago, so it comes due 300 ms after the start.
	before, _ := json.Marshal(map[string]time.Time{"report": now, "export": now.Add(-time.Hour + 300*time.Millisecond)})
	if err := os.WriteFile(state, before, 0o600); err != nil {
		t.Fatal(err)
	}
	w := New(s, Config{Outbox: outbox, ReportEvery: time.Hour, ExportEvery: time.Hour, StateFile: state}, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(rctx) }()
	var exports []string
	for deadline := time.Now().Add(10 * time.Second); len(exports) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		exports, _ = filepath.Glob(filepath.Join(outbox, "contacts-*.csv"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(exports) != 1 {
		t.Fatalf("exports %v, want the one that came due while the worker was down", exports)
	}
	if reports, _ := filepath.Glob(filepath.Join(outbox, "pipeline-*.json")); len(reports) != 0 {
		t.Errorf("reports %v: the report ran an instant before the restart and is not due for an hour", reports)
	}
	var after map[string]time.Time
	b, err := os.ReadFile(state)
	if err != nil || json.Unmarshal(b, &after) != nil {
		t.Fatalf("state after the run: %s %v", b, err)
	}
	if !after["export"].After(now) || !after["report"].Equal(now.Round(0)) {
		t.Errorf("state %v: want the export's new run recorded, the report's kept (%v)", after, now)
	}
}

// TestStopDrainsTheJobInHand: a worker stopped while it imports a file
// (its tier scaled in) finishes that import, then claims no other file:
// the file lands in done/ with every row loaded, and the next file stays
// in the inbox for another worker. Cut short, the import failed and the
// rows were lost.
func TestStopDrainsTheJobInHand(t *testing.T) {
	s, _ := storetest.Open(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, store.NewUser{Email: "admin@example.com", Name: "A", Role: app.RoleAdmin, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(t.TempDir(), "in")
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	const rows = 100_000
	var big strings.Builder
	big.WriteString("first_name,last_name,email\n")
	for i := range rows {
		fmt.Fprintf(&big, "First%d,Last%d,p%d@example.com\n", i, i, i)
	}
	if err := os.WriteFile(filepath.Join(inbox, "a-big.csv"), []byte(big.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inbox, "b-next.csv"), []byte("first_name,last_name,email\nAnn,Lee,ann@example.com\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	// An outbox for the count at the end; no scheduled job of its own.
	w := New(s, Config{Inbox: inbox, Outbox: filepath.Join(t.TempDir(), "out"), ImportOwner: "admin@example.com", PollEvery: 20 * time.Millisecond}, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(rctx) }()
	claimed := filepath.Join(inbox, "processing", "a-big.csv")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(claimed); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("the worker never claimed a-big.csv")
		}
	}
	cancel() // the stop, while the import runs
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if failed, _ := filepath.Glob(filepath.Join(inbox, "failed", "*")); len(failed) > 0 {
		b, _ := os.ReadFile(failed[len(failed)-1])
		t.Fatalf("imports failed by the stop: %v (%s)", failed, b)
	}
	if ok, _ := filepath.Glob(filepath.Join(inbox, "done", "*a-big.csv")); len(ok) != 1 {
		t.Errorf("done: %v, want a-big.csv imported whole", ok)
	}
	if _, err := os.Stat(filepath.Join(inbox, "b-next.csv")); err != nil {
		t.Errorf("b-next.csv: %v; want it left in the inbox by a stopping worker", err)
	}
	if n, err := w.Export(ctx); err != nil || n != rows {
		t.Errorf("contacts %d (%v), want the %d rows of the file in hand", n, err, rows)
	}
}
