package scheduler

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmplan/crmplan/app/mail"
	"github.com/crmplan/crmplan/app/queue"
	"github.com/crmplan/crmplan/app/store/storetest"
	"github.com/crmplan/crmplan/app/worker"
)

// TestFire triggers a real worker on a real PostgreSQL and a real broker;
// a dead worker listed first does not stop the job.
func TestFire(t *testing.T) {
	s, _ := storetest.Open(t)
	outbox := t.TempDir()
	w := worker.New(s, worker.Config{Outbox: outbox, ReportEvery: time.Hour, Log: slog.New(slog.DiscardHandler)}, nil)
	wSrv := httptest.NewServer(w.Handler())
	t.Cleanup(wSrv.Close)
	dead := httptest.NewServer(nil)
	dead.Close()
	b := queue.New(queue.Config{Name: "q", Log: slog.New(slog.DiscardHandler)}, nil)
	qSrv := httptest.NewServer(b.Handler())
	t.Cleanup(qSrv.Close)

	sch := New(Config{Workers: []string{dead.URL, wSrv.URL}, Brokers: []string{qSrv.URL}, Log: slog.New(slog.DiscardHandler)}, nil)
	at := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		job                   string
		wantWorker, wantQueue string
		wantFiles             string
	}{
		{"report", "ok", "ok", "pipeline-*.json"},
		{"export", "ok", "ok", "contacts-*.csv"},
		{"vacuum", "error", "ok", ""},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			sch.Fire(context.Background(), tt.job, at)
			if n := testutil.ToFloat64(sch.triggers.WithLabelValues(tt.job, "worker", tt.wantWorker)); n != 1 {
				t.Errorf("worker trigger %s = %v, want 1", tt.wantWorker, n)
			}
			if n := testutil.ToFloat64(sch.triggers.WithLabelValues(tt.job, "queue", tt.wantQueue)); n != 1 {
				t.Errorf("queue trigger %s = %v, want 1", tt.wantQueue, n)
			}
			if tt.wantFiles != "" {
				if files, _ := filepath.Glob(filepath.Join(outbox, tt.wantFiles)); len(files) != 1 {
					t.Errorf("outbox %s: %v", tt.wantFiles, files)
				}
			}
		})
	}
	res, err := http.Get(qSrv.URL + "/v1/topics/schedule/messages?wait=0s")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, job := range []string{"report", "export", "vacuum"} {
		if !strings.Contains(string(body), `\"job\":\"`+job+`\"`) {
			t.Errorf("tick of %s not on the queue: %s", job, body)
		}
	}
}

func TestParseJob(t *testing.T) {
	tests := []struct {
		in      string
		want    Job
		wantErr bool
	}{
		{"report=5m", Job{"report", 5 * time.Minute}, false},
		{"report", Job{}, true},
		{"=5m", Job{}, true},
		{"export=0s", Job{}, true},
	}
	for _, tt := range tests {
		got, err := ParseJob(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseJob(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// TestFailedJobMails: a job no target takes is mailed to the operators
// through a real SMTP relay (crm mail) and lands in its Maildir, once per
// outage: repeated failures send nothing more, a failure after a success
// sends again.
func TestFailedJobMails(t *testing.T) {
	var up atomic.Bool
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "broker down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(broker.Close)
	addr, maildir := mail.StartTest(t)
	n := mail.Notifier{Addr: addr, Password: mail.TestPassword, From: "scheduler@crm.local", To: []string{"ops@crm.local"}}
	sch := New(Config{Brokers: []string{broker.URL}, Notify: n.Send, Log: slog.New(slog.DiscardHandler)}, nil)
	at := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		up       bool
		wantMail int // messages in the Maildir after the tick
	}{
		{"first failure", false, 1},
		{"still failing", false, 1},
		{"recovered", true, 1},
		{"fails again", false, 2},
	}
	for _, tt := range tests {
		up.Store(tt.up)
		sch.Fire(context.Background(), "report", at)
		// Delivery is asynchronous: wait for one more than expected, so a
		// mail sent in excess is seen.
		msgs := mail.Delivered(t, maildir, tt.wantMail+1, time.Second)
		if len(msgs) != tt.wantMail {
			t.Fatalf("%s: %d messages in the Maildir, want %d", tt.name, len(msgs), tt.wantMail)
		}
	}
	msgs := mail.Delivered(t, maildir, 2, 0)
	for _, want := range []string{"Subject: crm scheduler: job report failed (queue)", "503 Service Unavailable", "From: scheduler@crm.local"} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("the notification lacks %q:\n%s", want, msgs[0])
		}
	}
}
