package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/stackkey"
)

// TestIntegrationRole runs crm integration as a process in front of the
// real stack: a token the CRM issued works through the ESB, none does not,
// and the ESB reports its calls in /metrics.
func TestIntegrationRole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and four crm processes")
	}
	s := startStack(t, 200)
	token := mintToken(t, s.web, signIn(t, s.web, "admin@example.com"))
	addr := freeAddr(t)
	start(t, t.TempDir(), "integration", "integration", "--listen", addr, "--backend", s.urls[0], "--backend", s.urls[1])
	esb := "http://" + addr
	waitReady(t, esb)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"unknown token", "Bearer crm_nope", 401},
		{"crm token", "Bearer " + token, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := doReq(t, "GET", esb+"/api/v1/accounts?limit=5", tt.auth, ""); code != tt.want {
				t.Fatalf("GET through the ESB = %d %s, want %d", code, body, tt.want)
			}
		})
	}
	if _, m := doReq(t, "GET", esb+"/metrics", "", ""); !strings.Contains(m, `crm_integration_calls_total{client="admin@example.com",code="2xx"} 1`) {
		t.Errorf("/metrics lacks the forwarded call:\n%s", lastLines(m, 20))
	}
}

// TestDocstoreRole stores and reads a document through crm docstore, for
// callers holding the stack's service key (here read from a 0600 file)
// only.
func TestDocstoreRole(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "service-key")
	if err := os.WriteFile(keyFile, []byte("docstore-file-key-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "docstore", "docstore", "--listen", addr, "--dir", dir+"/docs", "--max-size", "1024", "--service-key-file", keyFile)
	base := "http://" + addr
	auth := "Bearer docstore-file-key-0123456789"
	waitReady(t, base)
	code, body := doReq(t, "POST", base+"/v1/documents", auth, "quote #42")
	if code != 201 {
		t.Fatalf("POST = %d %s", code, body)
	}
	id := body[strings.Index(body, `"id":"`)+6:][:64]
	if code, got := doReq(t, "GET", base+"/v1/documents/"+id, auth, ""); code != 200 || got != "quote #42" {
		t.Errorf("GET = %d %q", code, got)
	}
	if code, _ := doReq(t, "POST", base+"/v1/documents", auth, strings.Repeat("x", 2048)); code != 413 {
		t.Errorf("oversized POST = %d, want 413", code)
	}
	// Finding 8: whoever reached the port read, wrote and deleted.
	for _, who := range []string{"", "Bearer " + testServiceKey, "Bearer docstore-file-key"} {
		for _, req := range [][2]string{{"POST", "/v1/documents"}, {"GET", "/v1/documents/" + id}, {"DELETE", "/v1/documents/" + id}} {
			if code, body := doReq(t, req[0], base+req[1], who, "forged"); code != 401 || strings.Contains(body, "quote") {
				t.Errorf("%s %s with %q = %d %s, want 401", req[0], req[1], who, code, body)
			}
		}
	}
	if code, got := doReq(t, "GET", base+"/v1/documents/"+id, auth, ""); code != 200 || got != "quote #42" {
		t.Errorf("after the refused calls, GET = %d %q, want the document", code, got)
	}
	if code, _ := doReq(t, "GET", base+"/healthz", "", ""); code != 200 {
		t.Errorf("/healthz without a key = %d, want 200 (health checks carry no key)", code)
	}
}

// TestServiceKeyRequired: docstore, queue and scheduler refuse to start
// without a key, or with a key file others may read.
func TestServiceKeyRequired(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open-key")
	if err := os.WriteFile(open, []byte("0123456789abcdef0123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(stackkey.Env, "")
	for _, role := range []string{"docstore", "queue", "scheduler"} {
		for _, extra := range [][]string{nil, {"--service-key-file", open}} {
			var out, errb bytes.Buffer
			args := append([]string{"crm", role, "--listen", "127.0.0.1:0"}, extra...)
			if code := run(context.Background(), args, &out, &errb); code != 2 || !strings.Contains(errb.String(), "service-key") {
				t.Errorf("%v: exit %d, stderr %q; want 2 naming the service key", args[1:], code, errb.String())
			}
		}
	}
}

func doReq(t testing.TB, method, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// mintToken creates an API token as the signed-in client's user.
func mintToken(t testing.TB, base string, c *http.Client) string {
	t.Helper()
	res, err := c.Post(base+"/api/v1/tokens", "application/json", strings.NewReader(`{"name":"integration client"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.Token == "" {
		t.Fatalf("token: %d %v", res.StatusCode, err)
	}
	return tok.Token
}

// TestQueueRolePair runs two crm queue brokers as processes, each the
// other's peer: a message published to one reaches the other's subscriber.
func TestQueueRolePair(t *testing.T) {
	a, b := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	start(t, dir, "queue-a", "queue", "--listen", a, "--name", "lan-a", "--peer", "http://"+b)
	start(t, dir, "queue-b", "queue", "--listen", b, "--name", "lan-b", "--peer", "http://"+a)
	waitReady(t, "http://"+a)
	waitReady(t, "http://"+b)
	auth := "Bearer " + testServiceKey
	if code, body := doReq(t, "POST", "http://"+a+"/v1/topics/leads/messages", auth, "lead 7"); code != 201 {
		t.Fatalf("publish = %d %s", code, body)
	}
	code, body := doReq(t, "GET", "http://"+b+"/v1/topics/leads/messages?wait=10s", auth, "")
	if code != 200 || !strings.Contains(body, `"origin":"lan-a","body":"lead 7"`) {
		t.Fatalf("subscribe on the peer = %d %s", code, body)
	}
	// Finding 8: anyone who reached a broker published and read.
	for _, who := range []string{"", "Bearer wrong-key-0123456789"} {
		if code, body := doReq(t, "POST", "http://"+a+"/v1/topics/leads/messages", who, "forged lead"); code != 401 {
			t.Errorf("publish with %q = %d %s, want 401", who, code, body)
		}
		if code, body := doReq(t, "GET", "http://"+b+"/v1/topics/leads/messages?wait=0s", who, ""); code != 401 || strings.Contains(body, "lead 7") {
			t.Errorf("subscribe with %q = %d %s, want 401", who, code, body)
		}
	}
}

// TestCacheRole runs crm cache (and so a real memcached) as a process: a
// memcached client and the health check share the role's port.
func TestCacheRole(t *testing.T) {
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("memcached is not installed (make deps)")
	}
	addr := freeAddr(t)
	dir := t.TempDir()
	start(t, dir, "cache", "cache", "--listen", addr, "--socket", dir+"/mc.sock", "--memory", "8")
	waitReady(t, "http://"+addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "set crm:k 0 0 2\r\nhi\r\nget crm:k\r\n")
	r := bufio.NewReader(c)
	var got []string
	for range 4 {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(l))
	}
	if g := strings.Join(got, "|"); g != "STORED|VALUE crm:k 0 2|hi|END" {
		t.Errorf("memcached through crm cache: %q", g)
	}
	// The port is no raw memcached: an attacker's flush_all is refused.
	fmt.Fprint(c, "flush_all\r\n")
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "CLIENT_ERROR") {
		t.Errorf("flush_all through crm cache: %q, want CLIENT_ERROR", l)
	}
	// And crm api will not trust the cache tier without the stack's key.
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"crm", "api", "--database-url", "postgres://crm@127.0.0.1:1/crm", "--cache", addr}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "key") {
		t.Errorf("crm api --cache without a key: exit %d, %s; want 2 naming the key", code, errb.String())
	}
}

// TestETLRole submits a migration CSV to crm etl as a process and finds
// the rows in the primary through crm api.
func TestETLRole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two crm processes")
	}
	db := seededDB(t, 100, 2)
	dir := t.TempDir()
	etlAddr, apiAddr := freeAddr(t), freeAddr(t)
	start(t, dir, "etl", "etl", "--listen", etlAddr, "--database-url", db, "--inbox", dir+"/inbox")
	start(t, dir, "api", "api", "--listen", apiAddr, "--database-url", db)
	waitReady(t, "http://"+etlAddr)
	waitReady(t, "http://"+apiAddr)
	csv := "first_name,last_name,email\nGrace,Hopper-Migrated,grace@example.com\n"
	// Finding 8: an upload without a token imported as the import owner
	// (admin@ here).
	for _, who := range []string{"", "Bearer " + testServiceKey, "Bearer crm_forged"} {
		if code, body := doReq(t, "POST", "http://"+etlAddr+"/v1/jobs?name=forged.csv", who, csv); code != 401 {
			t.Errorf("submit with %q = %d %s, want 401", who, code, body)
		}
	}
	// An upload imports as the token's own user: rep1, who sees the
	// contact as theirs.
	token := mintToken(t, "http://"+apiAddr, signIn(t, "http://"+apiAddr, "rep1@example.com"))
	if code, body := doReq(t, "POST", "http://"+etlAddr+"/v1/jobs?name=legacy.csv", "Bearer "+token, csv); code != 202 {
		t.Fatalf("submit = %d %s", code, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := doReq(t, "GET", "http://"+apiAddr+"/api/v1/contacts?q=Hopper-Migrated", "Bearer "+token, "")
		if strings.Contains(body, "grace@example.com") {
			break
		}
		if time.Now().After(deadline) {
			_, jobs := doReq(t, "GET", "http://"+etlAddr+"/v1/jobs", "Bearer "+token, "")
			t.Fatalf("the migrated contact never showed up; jobs: %s; last answer: %s", jobs, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSchedulerTicksReachKeyedQueue: the scheduler presents the stack's
// service key, so its ticks reach a broker that takes only key holders;
// one with another key is refused.
func TestSchedulerTicksReachKeyedQueue(t *testing.T) {
	q, good, bad := freeAddr(t), freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	start(t, dir, "queue", "queue", "--listen", q, "--name", "lan-a")
	waitReady(t, "http://"+q)
	start(t, dir, "scheduler", "scheduler", "--listen", good, "--job", "report=200ms", "--broker", "http://"+q)
	keyFile := filepath.Join(dir, "other-key")
	if err := os.WriteFile(keyFile, []byte("another-stack-key-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "scheduler-other", "scheduler", "--listen", bad, "--job", "export=200ms", "--broker", "http://"+q, "--service-key-file", keyFile)
	code, body := doReq(t, "GET", "http://"+q+"/v1/topics/schedule/messages?wait=10s", "Bearer "+testServiceKey, "")
	if code != 200 || !strings.Contains(body, `report`) {
		t.Fatalf("subscribe = %d %s, want the scheduler's report tick", code, body)
	}
	waitReady(t, "http://"+bad)
	time.Sleep(time.Second) // five ticks of the other scheduler
	if _, m := doReq(t, "GET", "http://"+bad+"/metrics", "", ""); !strings.Contains(m, `crm_scheduler_triggers_total{job="export",result="error",target="queue"}`) {
		t.Errorf("the scheduler with another key was not refused:\n%s", lastLines(m, 20))
	}
	if _, body := doReq(t, "GET", "http://"+q+"/v1/topics/schedule/messages?wait=0s", "Bearer "+testServiceKey, ""); strings.Contains(body, "export") {
		t.Errorf("a tick of the scheduler with another key was stored: %s", body)
	}
}
