package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// ledger is every create the CRM acknowledged, by id and unique name.
type ledger struct {
	mu    sync.Mutex
	acked map[int64]string
	fails int
}

// write creates accounts with unique names from several clients until
// stop closes, recording what the CRM acknowledged.
func (l *ledger) write(t *testing.T, inv stackdir.Inventory, clients int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		c := signIn(t, inv)
		c.http.Timeout = 2 * time.Second
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("ledger-%d-%d", w, n)
				if id, ok := c.tryCreate(name); ok {
					l.mu.Lock()
					l.acked[id] = name
					l.mu.Unlock()
				} else {
					l.mu.Lock()
					l.fails++
					l.mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	return &wg
}

// tryCreate is createAccount for a goroutine: no t.Fatal.
func (c *crmClient) tryCreate(name string) (int64, bool) {
	req, _ := http.NewRequest("POST", c.url+"/api/v1/accounts", jsonBody(map[string]string{"name": name}))
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	var rec struct {
		ID int64 `json:"id"`
	}
	if res.StatusCode != http.StatusCreated || decodeJSON(res, &rec) != nil || rec.ID == 0 {
		return 0, false
	}
	return rec.ID, true
}

// lost counts acknowledged creates missing from the promoted replica.
func (l *ledger) lost(t *testing.T, inv stackdir.Inventory) int {
	t.Helper()
	srv := hostServer(t, inv, "db-replica-1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("crm"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ids := make([]int64, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	rows, err := conn.Query(ctx, "SELECT id, name FROM accounts WHERE id = ANY($1)", ids)
	if err != nil {
		t.Fatal(err)
	}
	found := map[int64]string{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		found[id] = name
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	n := 0
	for id, name := range l.acked {
		if found[id] != name {
			n++
		}
	}
	return n
}

// killPrimary kill -9s the primary's supervisor, then postgres itself:
// the host is gone as if it lost power.
func killPrimary(t *testing.T, e *deployEnv) {
	t.Helper()
	st, err := provision.GetStatus(context.Background(), e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.Hosts {
		if h.Name != "db-primary-1" {
			continue
		}
		for _, p := range h.Processes {
			for _, pid := range []int{p.SupervisorPID, p.PID} {
				if pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return
		}
	}
	t.Fatal("no postgres process on db-primary-1")
}

// TestFailoverLostWrites measures acknowledged writes lost when the
// primary is killed under writes and the replica is promoted: with an
// asynchronous replica (failover --force) and a synchronous one, which
// must lose none; two stacks side by side, each on its own range.
func TestFailoverLostWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi and PostgreSQL")
	}
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"async", []string{"--force"}},
		{"sync", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newDeployEnv(t)
			plan := examplePlan(t, "simplecrm") // replication: async
			if tc.name == "sync" {
				plan = rewritePlan(t, plan, "replication: async", "replication: sync")
			}
			e.apply(plan)
			inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
			if err != nil {
				t.Fatal(err)
			}
			l := &ledger{acked: map[int64]string{}}
			stop := make(chan struct{})
			wg := l.write(t, inv, 8, stop)
			time.Sleep(3 * time.Second)
			killed := time.Now()
			killPrimary(t, e)
			time.Sleep(500 * time.Millisecond)
			close(stop)
			wg.Wait()
			out, err := e.exec(append([]string{"failover", "--plan", plan}, tc.args...)...)
			if err != nil {
				t.Fatalf("%s: failover: %v\n%s", tc.name, err, out)
			}
			rto := time.Since(killed)
			lost := l.lost(t, inv)
			t.Logf("BENCH %s: %d acknowledged creates, %d failed requests, %d lost after kill -9 of the primary and failover (kill to failover done %.1fs)",
				tc.name, len(l.acked), l.fails, lost, rto.Seconds())
			if len(l.acked) < 50 {
				t.Errorf("%s: only %d creates acknowledged: the load did not run", tc.name, len(l.acked))
			}
			if tc.name == "sync" && lost != 0 {
				t.Errorf("sync: %d acknowledged writes lost, want 0", lost)
			}
			if out, err := e.exec("destroy", "--plan", plan, "--yes"); err != nil {
				t.Fatalf("destroy: %v\n%s", err, out)
			}
		})
	}
}

func jsonBody(v any) *bytes.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func decodeJSON(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }

// killHost kill -9s a host's supervisors, then their processes.
func killHost(t *testing.T, e *deployEnv, host string) {
	t.Helper()
	killStackHost(t, e, "simplecrm", host)
}
