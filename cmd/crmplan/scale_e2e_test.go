package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
)

// scaleStackUnderLoad changes the api tier's server count of a deployed
// stack (res is its apply's result) while k6 drives the plan's rate
// through the web tier: n -> n+1 (scale out: the new server is created,
// and crm web takes it into its backends through its admin socket,
// without a restart) and back to n (scale in: crm web drains the last api
// server before it is stopped). Each direction must fail no request, and
// neither may restart crm web or the api servers that stay: they take the
// new connection pool the sizing gives them in place (SIGHUP, new pgx
// pools), and PostgreSQL takes the new settings by a reload. A stack with
// one ETL server (seed 000) scales its ETL tier 1 -> 2 -> 1 in the same
// applies: etl-1 keeps its process and takes the tier's new pool share.
func scaleStackUnderLoad(t *testing.T, e *deployEnv, stack, plan string, res applyOutput) {
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: stack}
	// The sizing may place more than the plan's min (seed 001: 3).
	n, etls := 0, 0
	for _, h := range res.Hosts {
		switch h.Role {
		case "api":
			n++
		case "etl":
			etls++
		}
	}
	scaled := scaledPlan(t, plan, n+1)
	var etl1 map[string]apiProcess
	if etls == 1 {
		scaled = rewritePlan(t, scaled, "  - role: etl\n    zone: lan\n", "  - role: etl\n    zone: lan\n    min: 2\n")
		etl1 = roleProcesses(t, paths, "etl", []string{"etl-1"})
	}
	webPIDs := func() map[string]int {
		out := map[string]int{}
		for _, host := range []string{"web-1", "web-2"} {
			st, err := supervise.Process{Name: "crm-web", Dir: paths.HostDir(host)}.ReadState()
			if err != nil || st.ChildPID == 0 {
				t.Fatalf("crm web on %s: no running process (%v)", host, err)
			}
			out[host] = st.ChildPID
		}
		return out
	}
	before := webPIDs()
	var staying []string
	for i := range n {
		staying = append(staying, fmt.Sprintf("api-%d", i+1))
	}
	apis := apiProcesses(t, paths, staying)

	scaleUnderLoad(t, e, paths, "out", scaled, n+1)
	sameProcesses(t, "scale out", apis, apiProcesses(t, paths, staying))
	if etl1 != nil {
		sameProcesses(t, "scale out", etl1, roleProcesses(t, paths, "etl", []string{"etl-1"}))
		if one, two := rolePool(t, paths, "etl-1", "etl"), rolePool(t, paths, "etl-2", "etl"); one != two {
			t.Errorf("scale out: etl-1 keeps a pool of %d connections, the new etl-2 has %d: it did not take the tier's new share", one, two)
		}
	}
	// The new server started with the pool the sizing gives n+1
	// servers; the ones that stay must have taken the same one.
	added := rolePool(t, paths, fmt.Sprintf("api-%d", n+1), "api")
	for _, h := range staying {
		if got := rolePool(t, paths, h, "api"); got != added {
			t.Errorf("scale out: %s keeps a pool of %d connections, the new api-%d has %d: it did not take the new size", h, got, n+1, added)
		}
	}
	scaleUnderLoad(t, e, paths, "in", plan, n)
	sameProcesses(t, "scale in", apis, apiProcesses(t, paths, staying))
	if etl1 != nil {
		sameProcesses(t, "scale in", etl1, roleProcesses(t, paths, "etl", []string{"etl-1"}))
	}

	for host, pid := range webPIDs() {
		if pid != before[host] {
			t.Errorf("%s: crm web restarted during the scaling (pid %d, was %d), want the same process", host, pid, before[host])
		}
	}
}

// apiProcess identifies a running crm api: its pid and its start time
// (field 22 of /proc/PID/stat), so that a pid reused by a restart does
// not pass for the same process.
type apiProcess struct {
	pid   int
	since string
}

// apiProcesses reads the crm api process of each host from its
// supervisor's state.
func apiProcesses(t *testing.T, paths stackdir.Paths, hosts []string) map[string]apiProcess {
	t.Helper()
	return roleProcesses(t, paths, "api", hosts)
}

// roleProcesses reads the crm process of role on each host from its
// supervisor's state.
func roleProcesses(t *testing.T, paths stackdir.Paths, role string, hosts []string) map[string]apiProcess {
	t.Helper()
	out := map[string]apiProcess{}
	for _, host := range hosts {
		st, err := supervise.Process{Name: "crm-" + role, Dir: paths.HostDir(host)}.ReadState()
		if err != nil || st.ChildPID == 0 {
			t.Fatalf("crm %s on %s: no running process (%v)", role, host, err)
		}
		out[host] = processAt(t, "crm "+role+" on "+host, st.ChildPID)
	}
	return out
}

// processAt identifies the running process pid (what names it).
func processAt(t *testing.T, what string, pid int) apiProcess {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("%s (pid %d): %v", what, pid, err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return apiProcess{pid: pid, since: fields[19]}
}

func sameProcesses(t *testing.T, when string, before, after map[string]apiProcess) {
	t.Helper()
	for host, p := range after {
		if p != before[host] {
			t.Errorf("%s: crm on %s restarted (pid %d started at tick %s, was pid %d at %s), want the same process",
				when, host, p.pid, p.since, before[host].pid, before[host].since)
		}
	}
}

// rolePool reads the size of crm role's primary pool on host from its
// metrics, at the address its role spec records.
func rolePool(t *testing.T, paths stackdir.Paths, host, role string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(paths.HostDir(host), "roles", role+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec wire.RoleSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + spec.Listen + "/metrics")
	if err != nil {
		t.Fatalf("crm %s on %s: %v", role, host, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	const metric = `crm_db_pool_connections{pool="primary",state="max"} `
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, metric); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("crm %s on %s: no %s in its metrics", role, host, metric)
	return 0
}

// scaleUnderLoad applies plan (want api servers) while crmplan verify runs
// at the plan's rate, and checks k6's failure count and web-1's backends.
func scaleUnderLoad(t *testing.T, e *deployEnv, paths stackdir.Paths, direction, plan string, want int) {
	t.Helper()
	// At full rate before the apply begins: 8 s.
	out, took, lr, busy := applyUnderLoad(t, e, paths.Stack, plan, 90*time.Second, 8*time.Second)
	t.Logf("BENCH scale %s apply under load %.1fs", direction, took.Seconds())
	verb := map[string]string{"out": "created", "in": "deleted"}[direction]
	if !strings.Contains(out, fmt.Sprintf("%s    Host api-", verb)) {
		t.Errorf("scale %s: the apply %s no api host", direction, verb)
	}

	t.Logf("scale %s: %.1f req/s achieved, %d requests failed, %d dropped", direction, lr.AchievedRate, lr.Failed, lr.Dropped)
	if lr.Failed != 0 {
		t.Errorf("scale %s: %d requests failed, want 0: %v", direction, lr.Failed, lr.Errors)
	}
	atRate(t, "scale "+direction, lr, 0.93, busy)

	backends := webBackendStates(t, paths.HostDir("web-1"))
	healthy := 0
	for _, b := range backends {
		if b.Healthy && !b.Drained {
			healthy++
		}
	}
	if len(backends) != want || healthy != want {
		t.Errorf("scale %s: web-1 balances %+v, want %d backends in rotation", direction, backends, want)
	}
}

// webBackend is a backend as crm web's admin socket reports it.
type webBackend struct {
	URL     string `json:"url"`
	Healthy bool   `json:"healthy"`
	Drained bool   `json:"drained"`
}

// webBackendStates asks crm web on hostDir for its backends through its
// admin socket.
func webBackendStates(t *testing.T, hostDir string) []webBackend {
	t.Helper()
	return backendStates(t, wire.WebAdminSocket(hostDir))
}

// backendStates asks a balancing crm role (web, integration, proxy) for
// its backends through its admin socket sock.
func backendStates(t *testing.T, sock string) []webBackend {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	res, err := client.Get("http://crm-web/backends")
	if err != nil {
		t.Fatalf("admin socket %s: %v", sock, err)
	}
	defer res.Body.Close()
	var body struct{ Backends []webBackend }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Backends
}
