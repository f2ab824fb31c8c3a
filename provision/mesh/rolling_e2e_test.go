package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/topology"
)

// deployBins builds crmplan-host (the agent) and crm from this tree.
func deployBins(t *testing.T) (agentBin, crmBin string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/crmplan-host", "./cmd/crm")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "crmplan-host"), filepath.Join(dir, "crm")
}

// release packs the crm binary with a VERSION file, so that hosts show
// which release they run.
func release(t *testing.T, crmBin, version string) Release {
	t.Helper()
	vf := filepath.Join(t.TempDir(), "VERSION")
	if err := os.WriteFile(vf, []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := NewRelease(version, map[string]string{"crm": crmBin, "VERSION": vf})
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// load sends GETs through the web tier at a constant arrival rate until
// stop is closed, like k6's constant-arrival-rate: a slow answer does not
// lower the rate.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	wg         sync.WaitGroup
}

func (l *load) run(client *http.Client, base string, rate int, stop <-chan struct{}) {
	paths := []string{"/api/v1/accounts?limit=20", "/api/v1/contacts?q=ann", "/api/v1/opportunities?sort=-amount",
		"/api/v1/accounts/1", "/api/v1/activities?kind=task", "/api/v1/session"}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			l.wg.Wait()
			return
		case <-tick.C:
		}
		l.wg.Add(1)
		go func(p string) {
			defer l.wg.Done()
			resp, err := client.Get(base + p)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("%s", resp.Status)
				}
			}
			if err != nil {
				l.failed.Add(1)
				l.mu.Lock()
				l.failures = append(l.failures, fmt.Sprintf("GET %s: %v", p, err))
				l.mu.Unlock()
				return
			}
			l.ok.Add(1)
		}(paths[i%len(paths)])
	}
}

// backendUp reports whether crm web's balancer has url in rotation.
func backendUp(ctx context.Context, web, url string) error {
	for {
		resp, err := http.Get(web + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `crm_lb_backend_up{backend="`+url+`"} 1`) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the balancer did not take %s back: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestRollingDeployUnderLoad deploys the CRM over the mesh onto a web host
// in the DMZ and two api hosts in the LAN, then rolls a new release over
// the api hosts while 150 requests per second go through the web tier:
// not one request may fail.
func TestRollingDeployUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, starts PostgreSQL, a Receptor mesh and three crm processes")
	}
	// A measurement under load: the machine's cores to itself (cpulease).
	cpulease.Measure(t)
	receptor := receptorBin(t)
	if _, err := os.Stat(filepath.Join(pgserver.DefaultBin, "postgres")); err != nil {
		t.Skip("no PostgreSQL 15 server binaries (make deps)")
	}
	agentBin, crmBin := deployBins(t)
	pg := pgserver.StartTest(t)
	db := pg.URL("postgres")
	passwords := filepath.Join(t.TempDir(), "passwords.json")
	seed := exec.Command(crmBin, "seed", "--database-url", db, "--records", "3000", "--users", "4", "--passwords-out", passwords)
	seed.Env = append(os.Environ(), "CRM_SEED_PASSWORD_KEY=e2e password key")
	topo := testTopology()
	m, err := New(t.TempDir(), "e2e", topo, Options{Receptor: receptor, Port: freePort(t, topo.Hosts[2].Address),
		WorkTypes: func(_ topology.Host, dir string) []WorkType { return AgentWorkTypes(agentBin, dir) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { stopRoles(t, m, agentBin); _ = m.Stop() })
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}

	v1 := release(t, crmBin, "v1")
	for _, h := range []string{"web-1", "api-1", "api-2"} {
		if _, err := m.Install(ctx, h, v1); err != nil {
			t.Fatal(err)
		}
	}
	env, _ := json.Marshal(map[string]string{"CRM_DATABASE_URL": db})
	if out, err := m.Run(ctx, "api-1", Work{Type: wire.WorkMigrate, Payload: bytes.NewReader(env)}); err != nil {
		t.Fatalf("migrate over the mesh: %v\n%s", err, out.Text)
	}
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	apis := map[string]string{}
	for _, h := range topo.Hosts[:2] {
		listen := fmt.Sprintf("%s:%d", h.Address, freePort(t, h.Address))
		apis[h.Name] = "http://" + listen
		if _, err := m.StartRole(ctx, h.Name, wire.RoleSpec{Role: "api", Listen: listen, Env: map[string]string{"CRM_DATABASE_URL": db}}); err != nil {
			t.Fatal(err)
		}
	}
	web := topo.Hosts[2]
	webListen := fmt.Sprintf("%s:%d", web.Address, freePort(t, web.Address))
	webURL := "http://" + webListen
	if _, err := m.StartRole(ctx, "web-1", wire.RoleSpec{Role: "web", Listen: webListen,
		Args: []string{"--backend", apis["api-1"], "--backend", apis["api-2"], "--health-interval", "100ms"}}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"api-1", "api-2"} {
		if err := backendUp(ctx, webURL, apis[h]); err != nil {
			t.Fatal(err)
		}
	}

	// The figure for BENCHMARKS.md: one small unit through the relay.
	small, err := m.Run(ctx, "api-2", Work{Type: wire.WorkStatus})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("round trip of a small unit (crmplan-status on api-2 via web-1): %v", small.Duration)

	client := signIn(t, webURL, passwords)
	l := &load{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { l.run(client, webURL, 150, stop); close(done) }()
	time.Sleep(2 * time.Second)
	began := time.Now()
	cpu0, cpuErr := target.MachineBusy()
	v2 := release(t, crmBin, "v2")
	healthy := func(ctx context.Context, host string) error { return backendUp(ctx, webURL, apis[host]) }
	rollout, err := m.RollingDeploy(ctx, v2, "api", []string{"api-1", "api-2"}, nil, healthy)
	if err != nil {
		t.Fatalf("rolling deploy: %v", err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	elapsed := time.Since(began) + 2*time.Second
	for _, f := range l.failures {
		t.Error(f)
	}
	total := l.ok.Load() + l.failed.Load()
	if l.failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed during the rolling deploy", l.failed.Load(), total)
	}
	// Short of the rate with every core busy (other packages' tests run
	// beside this one on 2 cores), the shortfall is the machine's, not the
	// deploy's: logged, and no failed request above still stands.
	busy := 0.0
	if cpu1, err := target.MachineBusy(); err == nil && cpuErr == nil {
		busy = (cpu1 - cpu0) / time.Since(began).Seconds()
	}
	if rate := float64(total) / elapsed.Seconds(); rate < 135 {
		if cores := float64(runtime.NumCPU()); busy >= 0.9*cores {
			t.Logf("load ran at %.0f req/s while %.2f of the machine's %.0f cores were busy: short for want of CPU, not counted", rate, busy, cores)
		} else {
			t.Errorf("load ran at %.0f req/s with %.2f of the machine's %.0f cores busy, want about 150", rate, busy, cores)
		}
	}
	for _, h := range rollout.Hosts {
		t.Logf("%s: %v", h.Host, h.Duration)
	}
	t.Logf("rolling deploy of %s over 2 api hosts: %v; %d requests at 150 req/s, none failed", v2.Version, rollout.Duration, total)
	for _, h := range []string{"api-1", "api-2"} {
		out, err := m.Run(ctx, h, Work{Type: wire.WorkStatus})
		if err != nil {
			t.Fatal(err)
		}
		var st struct{ Current, Previous string }
		if err := json.Unmarshal([]byte(out.Text), &st); err != nil || st.Current != "v2" || st.Previous != "v1" {
			t.Errorf("%s: current %q previous %q (%v), want v2 with v1 kept", h, st.Current, st.Previous, err)
		}
	}
}

// signIn signs in as manager@ with the password crm seed wrote to
// passwordsFile.
func signIn(t *testing.T, base, passwordsFile string) *http.Client {
	t.Helper()
	data, err := os.ReadFile(passwordsFile)
	if err != nil {
		t.Fatal(err)
	}
	var passwords map[string]string
	if err := json.Unmarshal(data, &passwords); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"email": "manager@example.com", "password": passwords["manager@example.com"]})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	resp, err := c.Post(base+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in through web: %s", resp.Status)
	}
	return c
}

// stopRoles stops every role the test started: they run under supervisors
// in their own sessions and would outlive the test.
func stopRoles(t *testing.T, m *Mesh, agentBin string) {
	for _, n := range m.Nodes() {
		dir := filepath.Dir(n.Dir)
		specs, _ := filepath.Glob(filepath.Join(dir, "roles", "*.json"))
		for _, s := range specs {
			role := strings.TrimSuffix(filepath.Base(s), ".json")
			if out, err := exec.Command(agentBin, "agent", "stop", "--host-dir", dir, "--role", role).CombinedOutput(); err != nil {
				t.Errorf("stop %s on %s: %v\n%s", role, n.ID, err, out)
			}
		}
	}
}

// TestRollingDeployRollsBackAFailedHost deploys a release whose crm exits
// at start: the rollout stops at the first host, fails with that host's
// own error text, puts the host back on the release it ran and leaves the
// next host alone.
func TestRollingDeployRollsBackAFailedHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, starts a Receptor mesh and crm processes")
	}
	// Heavy work, not measured: beside other work, not beside a measurement.
	cpulease.Work(t)
	receptor := receptorBin(t)
	agentBin, crmBin := deployBins(t)
	topo := testTopology()
	m, err := New(t.TempDir(), "rollback", topo, Options{Receptor: receptor, Port: freePort(t, topo.Hosts[2].Address),
		WorkTypes: func(_ topology.Host, dir string) []WorkType { return AgentWorkTypes(agentBin, dir) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t.Cleanup(func() { stopRoles(t, m, agentBin); _ = m.Stop() })
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	host := topo.Hosts[0] // api-1, in the LAN
	if _, err := m.Install(ctx, host.Name, release(t, crmBin, "v1")); err != nil {
		t.Fatal(err)
	}
	// crm web needs no database: the host serves /healthz on v1.
	listen := fmt.Sprintf("%s:%d", host.Address, freePort(t, host.Address))
	if _, err := m.StartRole(ctx, host.Name, wire.RoleSpec{Role: "web", Listen: listen, Args: []string{"--backend", "http://127.0.0.1:9"}}); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "crm")
	script := "#!/bin/sh\necho \"crm: v2 cannot read /etc/crm/v2.conf\" >&2\nexit 1\n"
	if err := os.WriteFile(broken, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	v2, err := NewRelease("v2", map[string]string{"crm": broken})
	if err != nil {
		t.Fatal(err)
	}
	rollout, deployErr := m.RollingDeploy(ctx, v2, "web", []string{"api-1", "api-2"}, nil, nil)
	if deployErr == nil || !errors.Is(deployErr, ErrUnitFailed) || !strings.Contains(deployErr.Error(), "v2 cannot read /etc/crm/v2.conf") {
		t.Fatalf("err = %v, want the host's own error text", deployErr)
	}
	if len(rollout.Hosts) != 1 || rollout.Hosts[0].Host != "api-1" {
		t.Errorf("rollout went on after a failed host: %+v", rollout.Hosts)
	}
	out, err := m.Run(ctx, host.Name, Work{Type: wire.WorkStatus})
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Current string
		Roles   []struct{ Healthy bool }
	}
	if err := json.Unmarshal([]byte(out.Text), &st); err != nil {
		t.Fatalf("%v: %s", err, out.Text)
	}
	if st.Current != "v1" || len(st.Roles) != 1 || !st.Roles[0].Healthy {
		t.Errorf("after the failed deploy api-1 is on %q with roles %+v, want v1 serving again", st.Current, st.Roles)
	}
	t.Logf("failed deploy and rollback of api-1: %v\n%v", rollout.Duration, deployErr)
}
