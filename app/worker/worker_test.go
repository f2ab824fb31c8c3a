package worker

import (
	"context"
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
