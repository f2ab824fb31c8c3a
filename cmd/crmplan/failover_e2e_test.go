package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// crmClient is a signed-in session through the DMZ web URL.
type crmClient struct {
	t    *testing.T
	url  string
	http *http.Client
}

func signIn(t *testing.T, inv stackdir.Inventory) *crmClient {
	t.Helper()
	c := &crmClient{t: t, url: inv.WebURL, http: webClient(t, inv)}
	var out map[string]any
	if code := c.do("POST", "/api/v1/session", map[string]string{"email": inv.LoadUser.Email, "password": inv.LoadUser.Password}, &out); code != http.StatusOK {
		t.Fatalf("sign in through %s: HTTP %d", inv.WebURL, code)
	}
	return c
}

func (c *crmClient) do(method, path string, body, out any) int {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(out)
	return res.StatusCode
}

// createAccount writes an account and returns its id once acknowledged.
func (c *crmClient) createAccount(name string) int64 {
	c.t.Helper()
	var rec struct {
		ID int64 `json:"id"`
	}
	if code := c.do("POST", "/api/v1/accounts", map[string]string{"name": name}, &rec); code != http.StatusCreated || rec.ID == 0 {
		c.t.Fatalf("create account %s: HTTP %d, id %d", name, code, rec.ID)
	}
	return rec.ID
}

func (c *crmClient) accountName(id int64) string {
	c.t.Helper()
	var rec struct {
		Name string `json:"name"`
	}
	if code := c.do("GET", fmt.Sprintf("/api/v1/accounts/%d", id), nil, &rec); code != http.StatusOK {
		return fmt.Sprintf("HTTP %d", code)
	}
	return rec.Name
}

// replayPause pauses (or resumes) WAL replay on the stack's replica: the
// replica then lags deterministically.
func replayPause(t *testing.T, inv stackdir.Inventory, pause bool) {
	t.Helper()
	fn := "pg_wal_replay_resume()"
	if pause {
		fn = "pg_wal_replay_pause()"
	}
	srv := hostServer(t, inv, "db-replica-1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT "+fn); err != nil {
		t.Fatal(err)
	}
}

func hostServer(t *testing.T, inv stackdir.Inventory, name string) *pgserver.Server {
	t.Helper()
	for _, h := range inv.Hosts {
		if h.Name == name {
			srv, err := pgserver.Open(provision.PostgresDir(h.Dir))
			if err != nil {
				t.Fatal(err)
			}
			return srv
		}
	}
	t.Fatalf("no host %s in the inventory", name)
	return nil
}

// failoverAndRebuild, on a deployed seed 000 (async replica), refuses a
// failover while the replica lags, then fails over: writes acknowledged
// before are read back through the DMZ after, new writes land on the
// promoted replica, status shows the new roles and the next apply changes
// nothing; failover --rebuild then makes the old primary the promoted
// one's streaming replica. TestSharedSimpleCRM runs it.
func failoverAndRebuild(t *testing.T, e *deployEnv, plan string) {
	inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	c := signIn(t, inv)
	before := c.createAccount("before-failover")

	replayPause(t, inv, true)
	lagging := c.createAccount("while-lagging")
	out, err := e.exec("failover", "--plan", plan)
	t.Logf("failover with a paused replica:\n%s", out)
	if err == nil || !strings.Contains(out, "lags the primary") {
		t.Fatalf("failover with a lagging replica: err %v, want a refusal naming the lag", err)
	}
	if hostServer(t, inv, "db-replica-1").IsReplica() == false {
		t.Fatal("a refused failover promoted the replica")
	}
	if got := c.accountName(lagging); got != "while-lagging" {
		t.Fatalf("after a refused failover the primary answers %q, want the account", got)
	}
	replayPause(t, inv, false)

	start := time.Now()
	var res provision.FailoverResult
	e.json(&res, "failover", "--plan", plan)
	t.Logf("BENCH failover total %.1fs (fence+promote %.2fs), lag %d bytes", time.Since(start).Seconds(), res.Promote.Seconds(), res.LagBytes)
	if res.Promoted != "db-replica-1" || res.Retired != "db-primary-1" {
		t.Fatalf("failover promoted %q, retired %q", res.Promoted, res.Retired)
	}
	c = signIn(t, inv) // sessions live in the database: sign in again to be sure it serves
	for id, want := range map[int64]string{before: "before-failover", lagging: "while-lagging"} {
		if got := c.accountName(id); got != want {
			t.Errorf("account %d after failover: %q, want %q; in the promoted database: %s", id, got, want, dbAccount(t, inv, id))
		}
	}
	after := c.createAccount("after-failover")
	checkPromoted(t, e, inv, after)

	// The next apply keeps the promoted replica as the primary.
	again, _ := e.apply(plan)
	if again.Changes["delete"]+again.Changes["replace"]+again.Changes["create"] != 0 {
		t.Errorf("apply after failover: changes %v, want nothing created, replaced or deleted", again.Changes)
	}
	if got := c.accountName(after); got != "after-failover" {
		t.Errorf("after the next apply account %d: %q", after, got)
	}
	checkPromoted(t, e, inv, after)

	// The old primary comes back as the promoted one's replica.
	var rebuilt applyOutput
	e.json(&rebuilt, "failover", "--plan", plan, "--rebuild")
	var st provision.Status
	e.json(&st, "status", "--stack", "simplecrm")
	for _, h := range st.Hosts {
		if h.Name == "db-primary-1" && (h.Role != "db-replica" || h.Replication == nil || h.Replication.State != "streaming") {
			t.Errorf("after --rebuild db-primary-1 is %s, replication %+v; want a streaming db-replica", h.Role, h.Replication)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hostServer(t, inv, "db-replica-1").WaitReplayed(ctx, hostServer(t, inv, "db-primary-1")); err != nil {
		t.Fatal(err)
	}
	if got := c.accountName(after); got != "after-failover" {
		t.Errorf("after --rebuild account %d: %q", after, got)
	}
	again, _ = e.apply(plan)
	if again.Changed {
		t.Errorf("apply after --rebuild: changes %v, want none", again.Changes)
	}
}

// checkPromoted: status shows db-replica-1 as the healthy primary, and the
// account written after the failover is in its database.
func checkPromoted(t *testing.T, e *deployEnv, inv stackdir.Inventory, id int64) {
	t.Helper()
	var st provision.Status
	var stdout bytes.Buffer
	cmd := exec.Command(e.crmplan, append([]string{"status", "--stack", "simplecrm", "--output", "json"}, e.args...)...)
	cmd.Stdout = &stdout
	_ = cmd.Run() // exits 1: the retired primary is down until rebuilt
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("status: %v\n%s", err, stdout.String())
	}
	roles := map[string]provision.HostStatus{}
	for _, h := range st.Hosts {
		roles[h.Name] = h
	}
	if h := roles["db-replica-1"]; h.Role != "db-primary" || !h.Healthy {
		t.Errorf("status: db-replica-1 is %s (healthy %v: %s), want the healthy db-primary", h.Role, h.Healthy, h.Health)
	}
	if h := roles["db-primary-1"]; h.Healthy {
		t.Errorf("status: the retired db-primary-1 is healthy (%s), want it fenced", h.Health)
	}
	for _, name := range []string{"api-1", "api-2", "web-1"} {
		if !roles[name].Healthy {
			t.Errorf("status: %s unhealthy: %s", name, roles[name].Health)
		}
	}
	srv := hostServer(t, inv, "db-replica-1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("crm"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var name string
	if err := conn.QueryRow(ctx, "SELECT name FROM accounts WHERE id = $1", id).Scan(&name); err != nil {
		t.Errorf("account %d is not in the promoted replica's database: %v", id, err)
	}
	t.Logf("account %d on the promoted replica: %s", id, name)
}

// dbAccount reads an account's name straight from the promoted replica.
func dbAccount(t *testing.T, inv stackdir.Inventory, id int64) string {
	t.Helper()
	srv := hostServer(t, inv, "db-replica-1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.URL("crm"))
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	var name string
	if err := conn.QueryRow(ctx, "SELECT name FROM accounts WHERE id = $1", id).Scan(&name); err != nil {
		return err.Error()
	}
	return name
}

// failoverKeepsWrites runs crmplan failover on a deployed seed 000 (on the
// target named where, for the log): db-replica-1 is promoted with no lag,
// a write acknowledged before is read back through the DMZ after, new
// writes land, and status shows the roles swapped.
func failoverKeepsWrites(t *testing.T, e *deployEnv, plan, where string) {
	inv, err := stackdir.LoadInventory(e.stateDir, "simplecrm")
	if err != nil {
		t.Fatal(err)
	}
	c := signIn(t, inv)
	before := c.createAccount("before-failover")
	start := time.Now()
	var fo provision.FailoverResult
	e.json(&fo, "failover", "--plan", plan)
	t.Logf("BENCH %s failover total %.1fs (fence+promote %.2fs, apply %v), lag %d bytes",
		where, time.Since(start).Seconds(), fo.Promote.Seconds(), fo.Apply.Changes, fo.LagBytes)
	if fo.Promoted != "db-replica-1" || fo.Retired != "db-primary-1" || fo.LagBytes != 0 {
		t.Fatalf("failover %+v, want db-replica-1 promoted with no lag", fo)
	}
	c = signIn(t, inv) // sessions live in the database
	if got := c.accountName(before); got != "before-failover" {
		t.Errorf("account %d after the failover: %q, want before-failover", before, got)
	}
	after := c.createAccount("after-failover")
	if got := c.accountName(after); got != "after-failover" {
		t.Errorf("account %d written after the failover: %q", after, got)
	}
	// status exits 1: the retired primary stays fenced until it is rebuilt.
	stdout, _ := exec.Command(e.crmplan, append([]string{"status", "--stack", "simplecrm", "--output", "json"}, e.args...)...).Output()
	var st provision.Status
	if err := json.Unmarshal(stdout, &st); err != nil {
		t.Fatalf("crmplan status --output json: %v\n%s", err, stdout)
	}
	roles := map[string]string{}
	for _, h := range st.Hosts {
		roles[h.Name] = h.Role
	}
	if roles["db-replica-1"] != "db-primary" || roles["db-primary-1"] != "db-replica" {
		t.Errorf("after the failover status shows roles %v, want db-replica-1 the primary", roles)
	}
}
