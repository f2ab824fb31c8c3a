package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/watchdog"
)

// TestAutomaticFailover deploys seed 000 with failover: automatic and
// synchronous replication (seed 004's test has it asynchronous), kill -9s
// every process of the primary's host and, without any crmplan command,
// waits until writes through the DMZ succeed again: the watchdog fenced
// the primary and promoted the replica, and the api servers' pools found
// it. The fenced primary, restarted by hand as a supervisor would, comes
// up read-only; failover --rebuild makes it a streaming replica again by
// pg_rewind, and synchronous again: the promoted primary waits for it.
func TestAutomaticFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi and PostgreSQL")
	}
	t.Parallel()
	e := newDeployEnv(t)
	plan := rewritePlan(t, examplePlan(t, "simplecrm"),
		"replication: async\n", "replication: sync\n    failover: automatic\n")
	e.apply(plan)
	inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	c := signIn(t, inv)
	c.http.Timeout = 2 * time.Second
	before := c.createAccount("before-kill")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hostServer(t, inv, "db-primary-1").WaitReplayed(ctx, hostServer(t, inv, "db-replica-1")); err != nil {
		t.Fatal(err)
	}

	// Writers until the kill: with synchronous replication every create
	// acknowledged before it must be on the promoted replica.
	l := &ledger{acked: map[int64]string{}}
	stop := make(chan struct{})
	wg := l.write(t, inv, 4, stop)
	time.Sleep(2 * time.Second)
	apis := apiPIDs(t, e)
	killed := time.Now()
	killHost(t, e, "db-primary-1")
	close(stop)
	wg.Wait()
	// A write may still succeed on the killed primary's last backends for a
	// moment; what counts is the first one after the watchdog's promotion.
	record := stackdir.Paths{StateDir: e.stateDir, Stack: "simplecrm"}.FailoverRecord()
	var after int64
	failed := 0
	for n := 0; after == 0; n++ {
		if time.Since(killed) > 60*time.Second {
			t.Fatalf("no write succeeded after a promotion within 60s of kill -9 of the primary (%d failed); watchdog log:\n%s", failed, watchdogLog(inv))
		}
		_, promoted := os.Stat(record)
		if id, ok := c.tryCreate(fmt.Sprintf("after-kill-%d", n)); ok && promoted == nil {
			after = id
			break
		} else if !ok {
			failed++
		}
		time.Sleep(100 * time.Millisecond)
	}
	rto := time.Since(killed)
	var p watchdog.Promotion
	readJSON(t, record, &p)
	t.Logf("watchdog log:\n%s", watchdogLog(inv))
	t.Logf("BENCH automatic failover: kill -9 to first acknowledged write %.2fs (%d writes failed); watchdog: last answer to loss declared %.2fs, loss to promoted %.2fs",
		rto.Seconds(), failed, p.Detected.Sub(p.LastSeen).Seconds(), p.At.Sub(p.Detected).Seconds())
	if !p.Automatic || p.Promoted != "db-replica-1" || p.Retired != "db-primary-1" {
		t.Fatalf("failover record %+v, want db-replica-1 promoted by the watchdog", p)
	}
	// The api pools dropped their broken connections: every write succeeds now.
	for i := range 20 {
		if _, ok := c.tryCreate(fmt.Sprintf("settled-%d", i)); !ok {
			t.Errorf("write %d after the failover failed", i)
		}
	}
	lost := l.lost(t, inv)
	t.Logf("BENCH automatic failover, sync: %d creates acknowledged by 4 writers before the kill, %d lost", len(l.acked), lost)
	if lost != 0 || len(l.acked) < 20 {
		t.Errorf("%d of %d creates acknowledged before the kill lost, want none of at least 20", lost, len(l.acked))
	}
	if got := c.accountName(before); got != "before-kill" {
		t.Errorf("account written before the kill reads %q after the failover", got)
	}

	// Fenced: restarted as a supervisor would, the old primary is read-only.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := hostServer(t, inv, "db-primary-1")
	if err := old.Start(ctx); err != nil {
		t.Fatalf("start the fenced primary: %v", err)
	}
	t.Cleanup(func() { _ = old.Stop(context.Background()) }) // when a check below fails
	conn, err := pgx.Connect(ctx, old.URL("crm"))
	if err != nil {
		t.Fatal(err)
	}
	_, werr := conn.Exec(ctx, "INSERT INTO accounts (name) VALUES ('split-brain')")
	conn.Close(ctx)
	if err := old.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if werr == nil || !strings.Contains(werr.Error(), "read-only") {
		t.Fatalf("a write to the restarted old primary: %v, want a read-only refusal", werr)
	}

	// Rebuilt by pg_rewind, it streams from the promoted replica.
	var rebuilt applyOutput
	e.json(&rebuilt, "failover", "--plan", plan, "--rebuild")
	rewind, err := os.ReadFile(filepath.Join(old.Dir(), "pg_rewind.log"))
	// "no rewind required" when the primary wrote nothing after the point
	// the promoted replica had replayed; "Done!" when blocks were copied.
	if err != nil || !strings.Contains(string(rewind), "servers diverged at") {
		t.Errorf("no successful pg_rewind (%v):\n%s", err, rewind)
	}
	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	for _, h := range st.Hosts {
		if h.Name == "db-primary-1" && (h.Role != "db-replica" || h.Replication == nil || h.Replication.State != "streaming" ||
			h.Replication.SyncState != "quorum" && h.Replication.SyncState != "sync") {
			t.Errorf("after --rebuild db-primary-1 is %s, replication %+v; want a streaming synchronous db-replica", h.Role, h.Replication)
		}
	}
	if err := hostServer(t, inv, "db-replica-1").WaitReplayed(ctx, hostServer(t, inv, "db-primary-1")); err != nil {
		t.Fatal(err)
	}
	if got := c.accountName(after); !strings.HasPrefix(got, "after-kill-") {
		t.Errorf("after --rebuild account %d reads %q", after, got)
	}
	// Neither the failover nor the rebuild restarted an api server: their
	// database URLs name every database host.
	if now := apiPIDs(t, e); fmt.Sprint(now) != fmt.Sprint(apis) {
		t.Errorf("api processes %v before the kill, %v after the rebuild; want the same", apis, now)
	}
}

// apiPIDs are the pids of the api servers' processes, by host.
func apiPIDs(t *testing.T, e *deployEnv) map[string]int {
	t.Helper()
	st, err := provision.GetStatus(context.Background(), e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, h := range st.Hosts {
		for _, p := range h.Processes {
			if h.Role == "api" && strings.Contains(p.Name, "api") {
				pids[h.Name] = p.PID
			}
		}
	}
	if len(pids) != 2 {
		t.Fatalf("api processes %v, want api-1 and api-2's", pids)
	}
	return pids
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func watchdogLog(inv stackdir.Inventory) string {
	for _, h := range inv.Hosts {
		if h.Name == "db-replica-1" {
			b, _ := os.ReadFile(filepath.Join(h.Dir, "watchdog.log"))
			return string(b)
		}
	}
	return ""
}
