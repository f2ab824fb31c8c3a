package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
)

var recordResult = flag.Bool("record-result", false, "save the end-to-end verify result as testdata/verify-result.json")

// e2ePasswordKey is what crm seed derives the test stack's passwords from.
const e2ePasswordKey = "verify-e2e-password-key"

// TestVerifyRealStack is the real thing: the crmplan binary runs its embedded
// k6 at seed 000's 150 req/s against a CRM stack the test starts itself
// (PostgreSQL primary, crm migrate and seed, two crm api behind crm web) and
// must hold the rate within 2 % with no dropped iteration; a deliberately
// impossible SLO must exit 99.
func TestVerifyRealStack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, starts PostgreSQL and runs k6")
	}
	t.Parallel()
	bin := buildBinaries(t)
	stateDir := t.TempDir()
	startStack(t, bin, stateDir)

	crmplan := filepath.Join(bin, "crmplan")
	cmd := exec.Command(crmplan, "verify", "--plan", "../../examples/simplecrm.yaml", "--state-dir", stateDir,
		"--duration", "20s", "--ramp-up", "5s")
	lease := cpulease.Measure(t)
	out, err := cmd.CombinedOutput()
	lease.Release()
	t.Logf("crmplan verify:\n%s", out)
	if err != nil {
		t.Fatalf("crmplan verify: %v", err)
	}
	res, err := loadgen.LoadResult(stackdir.Paths{StateDir: stateDir, Stack: "simplecrm"}.LatestResult())
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.AchievedRate-150)/150 > 0.02 || res.Dropped != 0 {
		t.Errorf("achieved %.2f req/s with %d dropped iterations; want 150 ± 2 %% and none", res.AchievedRate, res.Dropped)
	}
	if res.Failed != 0 {
		t.Errorf("%d requests failed: %v", res.Failed, res.Errors)
	}
	roles := map[string]loadgen.TierMeasurement{}
	for _, tm := range res.Tiers {
		roles[tm.Role] = tm
	}
	if web, api := roles["web"], roles["api"]; web.Throughput < 100 || api.Throughput < 100 || api.Measured != 2 || api.CPU <= 0 {
		t.Errorf("tiers = %+v; want web and both api hosts serving about 150 req/s", res.Tiers)
	}
	if db := roles["db-primary"]; db.Measured != 1 || db.CPU <= 0 {
		t.Errorf("db-primary = %+v; want its CPU from /proc", db)
	}
	if *recordResult {
		data, _ := os.ReadFile(stackdir.Paths{StateDir: stateDir, Stack: "simplecrm"}.LatestResult())
		if err := os.WriteFile("testdata/verify-result.json", data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// 0.01 ms is below what any HTTP round trip takes.
	cmd = exec.Command(crmplan, "verify", "--plan", "../../examples/simplecrm.yaml", "--state-dir", stateDir,
		"--duration", "3s", "--ramp-up", "0s", "--p95", "0.01")
	out, err = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitSLOFailed || !strings.Contains(string(out), "SLO FAILED") {
		t.Errorf("impossible SLO: exit %d (%v), want 99\n%s", code, err, out)
	}
}

// testStack is what startStack started.
type testStack struct {
	crm, ip    string   // the crm binary; the test's addresses' prefix
	apis       []string // the api servers' base URLs
	inv        stackdir.Inventory
	webHTTPS   string // crm web with the stack CA's certificate
	passwordOf map[string]string
}

// startStack runs seed 000's request path on the test's own loopback range
// (e2eRanges), on free ports, and writes the inventory apply would have
// written, so verify finds it as a deployed stack: crm web serves HTTPS
// with a certificate from a stack CA, as apply deploys it.
func startStack(t testing.TB, bin, stateDir string) testStack {
	t.Helper()
	ip := ownRange(t) + "1."
	pg := pgserver.StartTestConfig(t, pgserver.Config{Addr: ip + "1:0"})
	db := pg.URL("postgres")
	crm := filepath.Join(bin, "crm")
	passwordsFile := filepath.Join(t.TempDir(), "passwords.json")
	for _, args := range [][]string{
		{"migrate", "--database-url", db},
		{"seed", "--database-url", db, "--records", "20000", "--passwords-out", passwordsFile},
	} {
		cmd := exec.Command(crm, args...)
		cmd.Env = append(os.Environ(), "CRM_SEED_PASSWORD_KEY="+e2ePasswordKey)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("crm %s: %v\n%s", args[0], err, out)
		}
	}
	var passwords map[string]string
	if data, err := os.ReadFile(passwordsFile); err != nil || json.Unmarshal(data, &passwords) != nil {
		t.Fatalf("crm seed --passwords-out: %v", err)
	}
	api1, api2, web := freeAddr(t, ip+"2"), freeAddr(t, ip+"3"), freeAddr(t, ip+"4")
	startProcess(t, crm, "api", "--database-url", db, "--listen", api1, "--secure-cookies")
	startProcess(t, crm, "api", "--database-url", db, "--listen", api2, "--secure-cookies")
	certFile, keyFile, caFile := webCert(t, stateDir, ip+"4")
	startProcess(t, crm, "web", "--listen", web, "--backend", "http://"+api1, "--backend", "http://"+api2,
		"--tls-cert-file", certFile, "--tls-key-file", keyFile)
	for _, addr := range []string{api1, api2, web} {
		waitReady(t, "http://"+addr+"/readyz")
	}
	inv := stackdir.Inventory{
		Stack: "simplecrm", Target: "local", WebURL: "https://" + web, WebCA: caFile,
		LoadUser: stackdir.Credentials{Email: "admin@example.com", Password: passwords["admin@example.com"]},
		Hosts: []stackdir.InventoryHost{
			{Name: "web-1", Role: "web", Zone: "dmz", MetricsURL: "http://" + web + "/metrics"},
			{Name: "api-1", Role: "api", Zone: "lan", MetricsURL: "http://" + api1 + "/metrics"},
			{Name: "api-2", Role: "api", Zone: "lan", MetricsURL: "http://" + api2 + "/metrics"},
			{Name: "db-1", Role: "db-primary", Zone: "lan", Address: pg.Addr(), Dir: dbHostDir(t, pg)},
		},
	}
	if err := stackdir.SaveInventory(stateDir, inv); err != nil {
		t.Fatal(err)
	}
	return testStack{crm: crm, ip: ip, apis: []string{"http://" + api1, "http://" + api2}, inv: inv, webHTTPS: "https://" + web, passwordOf: passwords}
}

// webCert makes a stack CA as apply does (the mesh's) and a web
// certificate from it for ip; it returns the certificate, key (0600) and
// CA files.
func webCert(t testing.TB, dir, ip string) (certFile, keyFile, caFile string) {
	t.Helper()
	ca, err := mesh.NewCA("verify-e2e")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer("web-1", []net.IP{net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(t.TempDir(), "tls")
	certFile, keyFile, caFile = filepath.Join(tlsDir, "web-1.crt"), filepath.Join(tlsDir, "web-1.key"), filepath.Join(tlsDir, "ca.crt")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, caFile: ca.CertPEM()} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, caFile
}

// dbHostDir lays the test's PostgreSQL out as the local target does, its
// server directory under the host directory, so verify finds its postmaster.
func dbHostDir(t testing.TB, pg *pgserver.Server) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(pg.Dir(), provision.PostgresDir(dir)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// freeAddr is host with a port free on it.
func freeAddr(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess starts a crm role and stops it (by its own pid) when the test ends.
func startProcess(t testing.TB, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), args[0]+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("crm %s log:\n%s", args[0], tail(string(b), 3000))
		}
	})
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready: %v", url, fmt.Sprint(err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// BenchmarkFindMaxLocalStack measures the highest rate the local seed 000
// request path (crm web, two crm api, one PostgreSQL) sustains on this
// machine, with the load generator on the same cores:
//
//	go test ./cmd/crmplan -run '^$' -bench FindMaxLocalStack -benchtime 1x -timeout 30m
func BenchmarkFindMaxLocalStack(b *testing.B) {
	bin := buildBinaries(b)
	stateDir := b.TempDir()
	startStack(b, bin, stateDir)
	for b.Loop() {
		cmd := exec.Command(filepath.Join(bin, "crmplan"), "verify", "--plan", "../../examples/simplecrm.yaml",
			"--state-dir", stateDir, "--find-max", "--duration", "15s", "--ramp-up", "3s", "--step-factor", "1.2",
			"--output", "json")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("find-max: %v\n%s", err, out)
		}
		var res loadgen.FindMaxResult
		if err := json.Unmarshal(out, &res); err != nil {
			b.Fatal(err)
		}
		for _, s := range res.Steps {
			b.Logf("%7.1f req/s: achieved %7.1f, p95 %6.1f ms, errors %.2f %%, dropped %d, passed %v %v",
				s.Rate, s.AchievedRate, s.P95Ms, s.ErrorRate*100, s.Dropped, s.Passed, s.Why)
		}
		b.ReportMetric(res.MaxRate, "max-req/s")
		b.ReportMetric(res.PredictedSaturation, "predicted-req/s")
		if res.Best != nil {
			b.ReportMetric(res.Best.GeneratorCPU, "k6-cores-at-max")
		}
	}
}
