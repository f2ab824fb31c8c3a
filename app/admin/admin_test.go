package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/kv"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/queue"
	"github.com/crmplan/crmplan/app/scheduler"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/stackkey"
)

// TestConsole gathers a cluster of real roles: a broker with messages and
// a peer it cannot reach, a scheduler whose job ticked, the key-value
// store's call counts, and two integrators' readiness (one ready, one
// without an api server); only the operator with the service key sees it.
func TestConsole(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	key, err := stackkey.Parse(kv.TestPassword, "test")
	if err != nil {
		t.Fatal(err)
	}
	deadPeer := httptest.NewServer(nil)
	deadPeer.Close()
	b := queue.New(queue.Config{Name: "q-a", Peers: []string{deadPeer.URL}, Log: log}, nil)
	bSrv := httptest.NewServer(key.Require(b.Handler()))
	t.Cleanup(bSrv.Close)
	pub := &http.Client{Transport: key.Transport(nil)}
	for range 2 {
		res, err := pub.Post(bSrv.URL+"/v1/topics/schedule/messages", "application/json", strings.NewReader(`{"job":"report"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	sch := scheduler.New(scheduler.Config{Jobs: []scheduler.Job{{Name: "report", Every: 5 * time.Minute}}, Brokers: []string{bSrv.URL},
		Transport: key.Transport(nil), Log: log}, nil)
	sch.Fire(ctx, "report", time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	sSrv := httptest.NewServer(key.Require(sch.Handler()))
	t.Cleanup(sSrv.Close)
	store := kv.Dial(kv.StartTest(t, ""), kv.TestPassword)
	t.Cleanup(func() { store.Close() })
	if err := store.CountCall(ctx, "esb@example.com"); err != nil {
		t.Fatal(err)
	}
	integrator := func(ready func(context.Context) error) string {
		srv := httptest.NewServer(serve.Handler(serve.Config{Role: "integration", Ready: ready, Metrics: metrics.New("integration"), Log: log}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	up := integrator(nil)
	down := integrator(func(context.Context) error { return errors.New("no api server in rotation") })

	c := New(Config{Integrators: []string{up, down}, Brokers: []string{bSrv.URL}, Schedulers: []string{sSrv.URL}, Calls: store.Calls,
		Password: kv.TestPassword, Client: &http.Client{Transport: key.Transport(nil)}, Log: log})
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials", "", "", 401},
		{"wrong key", User, "not-the-key-at-all-000", 401},
		{"wrong user", "root", kv.TestPassword, 401},
		{"the operator", User, kv.TestPassword, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/admin/", nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Fatalf("GET /admin/ as %q = %d, want %d", tt.user, res.StatusCode, tt.want)
			}
			if tt.want != 200 {
				return
			}
			for _, want := range []string{"<td>" + up + "</td><td>ready</td>", "unavailable: no api server in rotation",
				"<td>esb@example.com</td><td>1</td>", "<td>q-a</td><td>schedule</td><td>3</td><td>3</td>",
				"backlog to " + deadPeer.URL, "<td>report</td><td>5m0s</td><td>03:00:00</td><td>queue: ok </td>"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("the page lacks %q:\n%s", want, body)
				}
			}
		})
	}

	cl := c.Cluster(ctx)
	if len(cl.Members) != 2 || !cl.Members[0].Ready || cl.Members[1].Ready || len(cl.Errors) != 0 {
		t.Errorf("Cluster: members %+v, errors %v; want the first ready, the second not, nothing unreached", cl.Members, cl.Errors)
	}
	// An integrator added to the tier is a member from the next look on,
	// one removed is no longer asked: the console is not restarted for it.
	third := integrator(nil)
	c.SetIntegrators([]string{up, third})
	if cl := c.Cluster(ctx); len(cl.Members) != 2 || cl.Members[1].URL != third || !cl.Members[0].Ready || !cl.Members[1].Ready {
		t.Errorf("after SetIntegrators: members %+v, want %s and %s, both ready", cl.Members, up, third)
	}
	// A broker that does not take the console's key is reported, not hidden.
	c.cfg.Client = http.DefaultClient
	if cl := c.Cluster(ctx); len(cl.Errors) != 2 || !strings.Contains(cl.Errors[0], "401") {
		t.Errorf("without the key: errors %v, want the broker's and the scheduler's 401", cl.Errors)
	}
}
