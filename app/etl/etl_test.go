package etl

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/store"
	"github.com/crmplan/crmplan/app/store/storetest"
	"github.com/crmplan/crmplan/app/worker"
)

// TestMigrationJobs submits CSV jobs over HTTP and loads them into a real
// PostgreSQL with the worker's importer.
func TestMigrationJobs(t *testing.T) {
	s, _ := storetest.Open(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, store.NewUser{Email: "etl@example.com", Name: "ETL", Role: app.RoleAdmin, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	in := Inbox{Dir: t.TempDir(), MaxSize: 1 << 10}
	srv := httptest.NewServer(in.Handler())
	t.Cleanup(srv.Close)
	submits := []struct {
		name, body string
		want       int
	}{
		{"legacy-1.csv", "first_name,last_name,email\nAda,Lovelace,ada@example.com\nAlan,Turing,alan@example.com\n", 202},
		{"legacy-2.csv", "first_name,shoe_size\nAda,7\n", 202},
		{"legacy-1.csv", "first_name,last_name\nX,Y\n", 409},
		{"../evil.csv", "x", 400},
		{"big.csv", strings.Repeat("x", 2<<10), 413},
	}
	for _, tt := range submits {
		res, err := http.Post(srv.URL+"/v1/jobs?name="+tt.name, "text/csv", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("submit %s = %d, want %d", tt.name, res.StatusCode, tt.want)
		}
	}
	w := worker.New(s, worker.Config{Inbox: in.Dir, ImportOwner: "etl@example.com", Log: slog.New(slog.DiscardHandler)}, nil)
	n, err := w.ImportInbox(ctx)
	if err != nil || n != 2 {
		t.Fatalf("import = %d, %v; want 2 rows", n, err)
	}
	res, err := http.Get(srv.URL + "/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct{ Jobs []Job }
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, j := range got.Jobs {
		states[strings.SplitN(j.File, "-", 2)[1]] = j.State
		if j.State == "failed" && !strings.Contains(j.Error, "shoe_size") {
			t.Errorf("failed job's error = %q", j.Error)
		}
	}
	if states["legacy-1.csv"] != "done" || states["legacy-2.csv"] != "failed" || len(states) != 2 {
		t.Errorf("jobs = %+v", got.Jobs)
	}
}
