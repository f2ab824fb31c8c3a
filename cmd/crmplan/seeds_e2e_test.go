package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/topology"
)

// TestEverySeedDeploysAndVerifies: the design documents promise five
// topologies; seed 000 has its own, deeper tests (apply, verify, HA). Each
// of the other four is applied for real, its status checked (every host
// healthy, reporting through its mesh node, its crm roles on the deployed
// release), verified by k6 at its plan's rate for a short steady phase
// (every request must succeed), and destroyed, after which none of its
// hosts answers any more. Before it is destroyed, seed 001's stack has its
// api tier scaled out and in under load (scaleStackUnderLoad) and then its
// worker tier (scaleWorkersUnderLoad), seed 002's
// its integrators (scaleIntegratorsUnderLoad), and seed 004's takes its
// active-passive test (seed004ActivePassive).
func TestEverySeedDeploysAndVerifies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL and k6 for four stacks")
	}
	t.Parallel()
	seeds := []struct {
		plan, stack string
	}{
		{"longjump", "longjump"},           // 001: memcached tier, job server, document store
		{"arint", "arint"},                 // 002: integrator cluster, scheduler, queue, several LANs
		{"client-server", "client-server"}, // 003: classic client-server
		{"smarten-ha", "smarten-ha"},       // 004: active-passive behind a failover switch
	}
	for _, s := range seeds {
		t.Run(s.plan, func(t *testing.T) {
			t.Parallel() // each seed in its own state dir, on its own range
			e := newDeployEnv(t)
			plan := examplePlan(t, s.plan)
			t.Cleanup(func() { _, _ = e.exec("destroy", "--stack", s.stack, "--yes") })
			applied, _ := e.apply(plan)
			inv, err := stackdir.LoadInventory(e.stateDir, s.stack)
			if err != nil {
				t.Fatal(err)
			}
			var st provision.Status
			began := time.Now()
			e.json(&st, "status", "--stack", s.stack)
			t.Logf("crmplan status of %d hosts: %v", len(st.Hosts), time.Since(began))
			checkMeshStatus(t, st, inv)
			checkMailRelay(t, inv)

			// verify takes only the state dir of the deploy flags.
			release := e.measure()
			out, err := exec.Command(e.crmplan, "verify", "--plan", plan, "--state-dir", e.stateDir,
				"--duration", "10s", "--ramp-up", "3s").CombinedOutput()
			release()
			t.Logf("crmplan verify:\n%s", out)
			// The store holds the state of the calls verify made, whether
			// or not they met the SLO on a loaded machine.
			checkKVStore(t, inv)
			checkAdminConsole(t, inv)
			checkEjectionMailed(t, inv)
			if err != nil {
				t.Fatalf("crmplan verify: %v", err)
			}
			res, err := loadgen.LoadResult(stackdir.Paths{StateDir: e.stateDir, Stack: s.stack}.LatestResult())
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Failed != 0 || res.AchievedRate < 0.95*res.TargetRate {
				t.Errorf("verify: %d requests, %d failed, %.2f of %.2f req/s; want all served at the rate",
					res.Requests, res.Failed, res.AchievedRate, res.TargetRate)
			}

			if s.plan == "longjump" {
				// Seed 001's api tier scaled out and in under load, on
				// this stack (seed 000's on TestSharedSimpleCRM's).
				t.Run("ScaleUnderLoad", func(t *testing.T) { scaleStackUnderLoad(t, e.in(t), s.stack, plan, applied) })
				// And its job servers, which hold database pools.
				t.Run("ScaleWorkers", func(t *testing.T) { scaleWorkersUnderLoad(t, e.in(t), s.stack, plan) })
			}
			if s.plan == "arint" {
				// Seed 002's integrators scaled out and in under load, on
				// this stack.
				t.Run("ScaleIntegrators", func(t *testing.T) { scaleIntegratorsUnderLoad(t, e.in(t), s.stack, plan) })
			}
			if s.plan == "smarten-ha" {
				// Seed 004's own test, on this stack: it kills hosts, and
				// destroy must still leave nothing that answers.
				t.Run("ActivePassive", func(t *testing.T) { seed004ActivePassive(t, e.in(t)) })
			}

			if out, err := e.exec("destroy", "--stack", s.stack, "--yes"); err != nil {
				t.Fatalf("crmplan destroy: %v\n%s", err, out)
			}
			for _, h := range inv.Hosts {
				addr := net.JoinHostPort(h.Address, fmt.Sprint(h.Port))
				if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					c.Close()
					t.Errorf("%s (%s) still answers on %s after destroy", h.Name, h.Role, addr)
				}
			}
		})
	}
}

// checkMeshStatus: status shows every host of the inventory with its own
// mesh node up, the release of each crm role it runs (the build apply
// deployed) and, on a database host, its postgres process.
func checkMeshStatus(t *testing.T, st provision.Status, inv stackdir.Inventory) {
	t.Helper()
	byName := map[string]provision.HostStatus{}
	for _, h := range st.Hosts {
		byName[h.Name] = h
	}
	for _, ih := range inv.Hosts {
		h, ok := byName[ih.Name]
		if !ok {
			t.Errorf("status: no host %s", ih.Name)
			continue
		}
		if h.MeshNode != ih.Name || !strings.HasPrefix(h.Mesh, "up") {
			t.Errorf("status: %s mesh node %q %q, want %s up", ih.Name, h.MeshNode, h.Mesh, ih.Name)
		}
		if topology.Role(ih.Role).IsPostgres() {
			if !slices.ContainsFunc(h.Processes, func(p provision.ProcessStatus) bool { return p.Name == "postgres" && p.Running }) {
				t.Errorf("status: %s processes %+v, want postgres running", ih.Name, h.Processes)
			}
			continue
		}
		if len(h.Roles) == 0 {
			t.Errorf("status: %s (%s) shows no crm role", ih.Name, ih.Role)
		}
		for _, r := range h.Roles {
			if !strings.HasSuffix(r.Release, "-"+inv.AppVersion) {
				t.Errorf("status: %s runs crm %s on release %q, want the deployed build %s", ih.Name, r.Role, r.Release, inv.AppVersion)
			}
		}
	}
}

// checkKVStore: seed 002's key-value store (ARKVD) runs a real Redis that
// refuses a client without the stack's service key, and holds the
// integrators' state: the calls verify's integration traffic made through
// them, counted by client. A seed without a kv host checks nothing.
func checkKVStore(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	ctx := context.Background()
	for _, h := range inv.Hosts {
		if h.Role != "kv" {
			continue
		}
		addr := net.JoinHostPort(h.Address, fmt.Sprint(h.Port))
		anon := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("%s: PING without a password = %v, want NOAUTH", h.Name, err)
		}
		anon.Close()
		rdb := redis.NewClient(&redis.Options{Addr: addr, Password: inv.ServiceKey, MaxRetries: -1})
		calls, err := rdb.HGetAll(ctx, "crm:integration:calls").Result() // app/kv's callsKey
		rdb.Close()
		var total int
		for _, v := range calls {
			n, _ := strconv.Atoi(v)
			total += n
		}
		t.Logf("%s: the integrators' call counts in Redis: %v", h.Name, calls)
		if err != nil || total == 0 {
			t.Errorf("%s: the integrators' call counts = %v, %v; want the calls verify made through them", h.Name, calls, err)
		}
	}
}

// checkMailRelay: seed 002's integrator mail (ARMAIL) is an SMTP relay
// that refuses a client without the stack's service key and delivers what
// an authenticated one sends into the Maildir in its host's directory. It
// runs "1 per machine": every host whose role mails (the integrators, the
// scheduler) has a relay of its own at its address, and a message sent
// there arrives in the mail tier's Maildir through that machine's relay,
// whose Received header names it. A seed without a mail host checks
// nothing.
func checkMailRelay(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	var central *stackdir.InventoryHost
	for i, h := range inv.Hosts {
		if h.Role == "mail" {
			central = &inv.Hosts[i]
		}
	}
	if central == nil {
		return
	}
	send := func(addr, password, subject string) error {
		c, err := smtp.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "crm", password)); err != nil {
			return err
		}
		msg := "From: e2e@crm.local\r\nTo: ops@crm.local\r\nSubject: " + subject + "\r\n\r\nsent by TestEverySeedDeploysAndVerifies\r\n"
		return c.SendMail("e2e@crm.local", []string{"ops@crm.local"}, strings.NewReader(msg))
	}
	addr := net.JoinHostPort(central.Address, fmt.Sprint(central.Port))
	if err := send(addr, "not-the-service-key-0000", "forged"); err == nil {
		t.Errorf("%s: mail sent without the service key", central.Name)
	}
	if err := send(addr, inv.ServiceKey, "e2e notification"); err != nil {
		t.Errorf("%s: send with the service key: %v", central.Name, err)
	} else if got := mailsWith(t, *central, "Subject: e2e notification", 1); len(got) != 1 || !strings.Contains(got[0], "by "+central.Name+" (crm mail)") {
		t.Errorf("%s: the Maildir holds %q, want the one message sent with the key", central.Name, got)
	}
	machines := 0
	for _, h := range inv.Hosts {
		if !topology.Role(h.Role).SendsMail() {
			continue
		}
		machines++
		addr := net.JoinHostPort(h.Address, "587")
		if err := send(addr, "not-the-service-key-0000", "forged on "+h.Name); err == nil {
			t.Errorf("%s: its machine's relay took mail without the service key", h.Name)
		}
		subject := "Subject: e2e notification sent on " + h.Name
		if err := send(addr, inv.ServiceKey, strings.TrimPrefix(subject, "Subject: ")); err != nil {
			t.Errorf("%s: send to its machine's relay at %s: %v", h.Name, addr, err)
			continue
		}
		got := mailsWith(t, *central, subject, 1)
		if len(got) != 1 || !throughRelays(got[0], h.Name, central.Name) {
			t.Errorf("%s: %s's Maildir holds %q, want the message through %s's relay, then %s", h.Name, central.Name, got, h.Name, central.Name)
		}
	}
	t.Logf("mail: sent on each of %d machines, delivered through its own relay to %s", machines, central.Name)
	if machines == 0 {
		t.Errorf("no host of a role that mails beside %s", central.Name)
	}
}

// throughRelays says whether the Received headers of msg show it going
// through machine's relay first and then central's: each relay puts its
// header on top.
func throughRelays(msg, machine, central string) bool {
	byCentral := strings.Index(msg, "by "+central+" (crm mail)")
	byMachine := strings.Index(msg, "by "+machine+" (crm mail)")
	return byCentral >= 0 && byMachine > byCentral
}

// mailsWith returns the messages in the Maildir of mail host h that
// contain want, waiting up to 10 s for n of them.
func mailsWith(t *testing.T, h stackdir.InventoryHost, want string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(h.Dir, "maildir", "new", "*"))
		var got []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), want) {
				got = append(got, string(b))
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkEjectionMailed: the integrators mail the operators an api server
// they take out of rotation (ARLDB's failure detection), each through its
// own machine's relay. The test stops api-2 (SIGSTOP: its health checks
// time out) until the mail of every integrator has arrived in the mail
// tier's Maildir, then lets it go on. A seed without integrators and a
// mail host checks nothing.
func checkEjectionMailed(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	var central, api *stackdir.InventoryHost
	var integrators []string
	for i, h := range inv.Hosts {
		switch h.Role {
		case "mail":
			central = &inv.Hosts[i]
		case "api":
			api = &inv.Hosts[i]
		case "integration":
			integrators = append(integrators, h.Name)
		}
	}
	if central == nil || api == nil || len(integrators) == 0 {
		return
	}
	st, err := supervise.Process{Name: "crm-api", Dir: api.Dir}.ReadState()
	if err != nil || st.ChildPID == 0 {
		t.Fatalf("%s: no crm api process (%+v, %v)", api.Name, st, err)
	}
	if err := syscall.Kill(st.ChildPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(st.ChildPID, syscall.SIGCONT) }()
	subject := fmt.Sprintf("api server http://%s:%d out of rotation", api.Address, api.Port)
	got := mailsWith(t, *central, subject, len(integrators))
	for _, name := range integrators {
		if !slices.ContainsFunc(got, func(m string) bool { return throughRelays(m, name, central.Name) }) {
			t.Errorf("no mail about %s stopped came through %s's relay; %d came: %q", api.Name, name, len(got), got)
		}
	}
	t.Logf("%s stopped: %d mails about it in %s's Maildir, one through each integrator's relay", api.Name, len(got), central.Name)
}

// checkAdminConsole: seed 002's web admin console (ARWADM) answers through
// the access proxy under /admin/, only to the operator with the service
// key, with the cluster's state: every integrator a member and ready, the
// calls verify made counted, a queue for each broker and the schedule.
func checkAdminConsole(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	var proxy string
	var integrators, brokers int
	for _, h := range inv.Hosts {
		switch h.Role {
		case "proxy":
			proxy = "http://" + net.JoinHostPort(h.Address, fmt.Sprint(h.Port))
		case "integration":
			integrators++
		case "queue":
			brokers++
		}
	}
	if proxy == "" || !slices.ContainsFunc(inv.Hosts, func(h stackdir.InventoryHost) bool { return h.Role == "admin" }) {
		return
	}
	get := func(user, pass string) (int, []byte) {
		req, _ := http.NewRequest("GET", proxy+"/admin/v1/cluster", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("admin console through the proxy: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, _ := get("admin", "not-the-service-key-000"); code != http.StatusUnauthorized {
		t.Errorf("admin console with a wrong key = %d, want 401", code)
	}
	code, body := get("admin", inv.ServiceKey)
	var cl struct {
		Members []struct {
			Ready bool `json:"ready"`
		} `json:"members"`
		Calls     map[string]int64  `json:"calls"`
		Queues    []json.RawMessage `json:"queues"`
		Schedules []struct {
			Jobs []json.RawMessage `json:"jobs"`
		} `json:"schedules"`
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(body, &cl); code != http.StatusOK || err != nil {
		t.Fatalf("admin console = %d %s (%v)", code, body, err)
	}
	t.Logf("admin console through the proxy: %s", body)
	ready := 0
	for _, m := range cl.Members {
		if m.Ready {
			ready++
		}
	}
	var calls int64
	for _, n := range cl.Calls {
		calls += n
	}
	if len(cl.Members) != integrators || ready != integrators || calls == 0 || len(cl.Queues) != brokers ||
		len(cl.Schedules) == 0 || len(cl.Schedules[0].Jobs) == 0 || len(cl.Errors) != 0 {
		t.Errorf("admin console: %d members (%d ready), %d calls, %d queues, schedules %+v, errors %v; want %d ready members, the calls verify made, %d queues, the jobs, no error",
			len(cl.Members), ready, calls, len(cl.Queues), cl.Schedules, cl.Errors, integrators, brokers)
	}
}
