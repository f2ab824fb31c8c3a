package etl

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/store"
	"github.com/crmplan/crmplan/app/store/storetest"
	"github.com/crmplan/crmplan/app/worker"
)

// TestMigrationJobs submits CSV jobs over HTTP and loads them into a real
// PostgreSQL with the worker's importer.
func TestMigrationJobs(t *testing.T) {
	s, pg := storetest.Open(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, store.NewUser{Email: "etl@example.com", Name: "ETL", Role: app.RoleAdmin, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.CreateUser(ctx, store.NewUser{Email: "rep@example.com", Name: "Rep", Role: app.RoleRep, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	const token = "crm_rep-token"
	in := Inbox{Dir: t.TempDir(), MaxSize: 1 << 10, Authenticate: func(ctx context.Context, tok string) (*app.Principal, error) {
		if tok != token {
			return nil, app.Errorf(app.EUNAUTHORIZED, "token is invalid")
		}
		return &app.Principal{User: rep, Via: "token"}, nil
	}}
	srv := httptest.NewServer(in.Handler())
	t.Cleanup(srv.Close)
	// Finding 8: anyone who reached the port submitted contacts as the
	// import owner.
	for _, auth := range []string{"", "Bearer crm_forged", "crm_rep-token"} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/jobs?name=forged.csv", strings.NewReader("first_name,last_name\nEve,Forged\n"))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("submit with %q = %d, want 401", auth, res.StatusCode)
		}
	}
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
		req, _ := http.NewRequest("POST", srv.URL+"/v1/jobs?name="+tt.name, strings.NewReader(tt.body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
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
	// The contacts belong to who uploaded them, not to the import owner.
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner int64
	if err := conn.QueryRow(ctx, "SELECT owner_id FROM contacts WHERE email = 'ada@example.com'").Scan(&owner); err != nil || owner != rep.ID {
		t.Errorf("imported contact's owner = %d (%v), want the uploader %d", owner, err, rep.ID)
	}
	if code := get(t, srv.URL+"/v1/jobs", "").StatusCode; code != http.StatusUnauthorized {
		t.Errorf("list without a token = %d, want 401", code)
	}
	res := get(t, srv.URL+"/v1/jobs", "Bearer "+token)
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

func get(t *testing.T, url, auth string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}
