package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/seed"
	"github.com/crmplan/crmplan/app/stackkey"
	"github.com/crmplan/crmplan/internal/cpulease"
	"github.com/crmplan/crmplan/pgserver"
)

// TestMain lets the test binary act as the crm binary, so end-to-end tests
// run real crm processes without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("CRM_TEST_EXEC") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs `crm args...` as a child process whose log goes to dir.
func start(t testing.TB, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "CRM_TEST_EXEC=1", "CRM_LOG_FORMAT=text", stackkey.Env+"="+testServiceKey)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", name, lastLines(string(b), 30))
		}
	})
	return cmd
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}

// runCLI runs crm in-process and fails the test on a non-zero exit.
func runCLI(t testing.TB, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"crm", "--log-level", "warn"}, args...), &out, &errb); code != 0 {
		t.Fatalf("crm %v: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

// seededDB starts PostgreSQL with the CRM schema and records, seeded
// users signing in with their passwords under e2eKey, and returns its URL.
func seededDB(t testing.TB, records, users int) string {
	t.Helper()
	db := pgserver.StartTest(t).URL("postgres")
	runCLI(t, "migrate", "--database-url", db)
	seedDB(t, db, int64(records), users)
	return db
}

// stack is PostgreSQL + 2 api servers + 1 web server, as real processes.
type stack struct {
	web  string
	apis []*exec.Cmd
	urls []string
}

func startStack(t testing.TB, records int64) *stack {
	pg := pgserver.StartTest(t)
	db := pg.URL("postgres")
	runCLI(t, "migrate", "--database-url", db)
	if out := seedDB(t, db, records, 4); !strings.Contains(out, fmt.Sprintf("seeded %d records", records)) {
		t.Fatalf("seed said %q", out)
	}
	dir := t.TempDir()
	s := &stack{}
	for i := range 2 {
		addr := freeAddr(t)
		s.apis = append(s.apis, start(t, dir, fmt.Sprintf("api%d", i), "api", "--listen", addr, "--database-url", db))
		s.urls = append(s.urls, "http://"+addr)
	}
	webAddr := freeAddr(t)
	start(t, dir, "web", "web", "--listen", webAddr, "--backend", s.urls[0], "--backend", s.urls[1], "--health-interval", "100ms")
	s.web = "http://" + webAddr
	for _, u := range append(s.urls, s.web) {
		waitReady(t, u)
	}
	return s
}

// testServiceKey is the service key the processes start gets find in
// their environment, as a deployment gives it.
const testServiceKey = "e2e-service-key-0123456789"

// e2eKey is the test stacks' seed password key: each user's password is
// seed.UserPassword(e2eKey, email).
var e2eKey = []byte("e2e password key")

// seedDB seeds db with records and reps through crm seed, its key in a
// file as a deployment gives it, and returns what crm seed printed.
func seedDB(t testing.TB, db string, records int64, reps int) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "seed-key")
	if err := os.WriteFile(keyFile, e2eKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return runCLI(t, "seed", "--database-url", db, "--records", strconv.FormatInt(records, 10), "--users", strconv.Itoa(reps), "--password-key-file", keyFile)
}

func signIn(t testing.TB, base, email string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	body, _ := json.Marshal(map[string]string{"email": email, "password": seed.UserPassword(e2eKey, email)})
	resp, err := c.Post(base+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign in through web: %d", resp.StatusCode)
	}
	return c
}

// TestBackendKilledUnderLoad kills one of two api servers while clients
// send GETs through crm web: not one GET may fail.
func TestBackendKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three crm processes")
	}
	// A measurement under load: the machine's cores to itself (cpulease).
	cpulease.Measure(t)
	s := startStack(t, 3000)
	client := signIn(t, s.web, "manager@example.com")
	paths := []string{"/api/v1/accounts?limit=20", "/api/v1/contacts?q=ann", "/api/v1/opportunities?sort=-amount", "/api/v1/accounts/1",
		"/api/v1/reports/pipeline", "/api/v1/activities?kind=task", "/api/v1/session"}
	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := paths[i%len(paths)]
				resp, err := client.Get(s.web + p)
				if err != nil {
					failed.Add(1)
					failures.Store(p, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					failures.Store(p, resp.Status)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(time.Second)
	before := ok.Load()
	if err := s.apis[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ejected := time.Duration(0)
	for time.Since(killed) < 3*time.Second {
		if ejected == 0 && strings.Contains(get(t, s.web+"/metrics"), `crm_lb_backend_up{backend="`+s.urls[0]+`"} 0`) {
			ejected = time.Since(killed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	failures.Range(func(k, v any) bool { t.Errorf("GET %s failed: %v", k, v); return true })
	if failed.Load() > 0 {
		t.Fatalf("%d of %d GETs failed after killing a backend", failed.Load(), failed.Load()+ok.Load())
	}
	if after := ok.Load() - before; after < 50 {
		t.Errorf("only %d GETs after the kill: the survivor did not take over", after)
	}
	if ejected == 0 || ejected > time.Second {
		t.Errorf("killed backend ejected after %v, want within 1s", ejected)
	}
	t.Logf("%d GETs ok, none failed; killed backend ejected after %v", ok.Load(), ejected)
}

func get(t testing.TB, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestWebServesUI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three crm processes")
	}
	s := startStack(t, 3000)
	for _, p := range []string{"/", "/accounts/42"} {
		resp, err := http.Get(s.web + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(bytes.ToLower(b), []byte("<!doctype html")) {
			t.Errorf("GET %s: %d %s %.100s", p, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: no security headers", p)
		}
	}
	if body := get(t, s.web+"/api/v1/session"); !strings.Contains(body, `"unauthorized"`) {
		t.Errorf("anonymous API call through web: %s", body)
	}
	for _, u := range []string{s.web, s.urls[0]} {
		if body := get(t, u+"/metrics"); !strings.Contains(body, "process_cpu_seconds_total") {
			t.Errorf("%s/metrics lacks process_cpu_seconds_total", u)
		}
	}
}

func TestCLIErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"bad mode", []string{"crm", "web", "--backend", "http://127.0.0.1:1", "--mode", "random"}, 2},
		{"bad backend", []string{"crm", "web", "--backend", "nonsense"}, 2},
		{"bad database url", []string{"crm", "api", "--database-url", "::nonsense"}, 2},
		{"seed without password", []string{"crm", "seed", "--database-url", "postgres://127.0.0.1:1/x"}, 2},
		{"bad records", []string{"crm", "seed", "--database-url", "postgres://127.0.0.1:1/x", "--records", "lots"}, 2},
		{"password in a database URL argument", []string{"crm", "migrate", "--database-url", "postgres://crm:s3cret@127.0.0.1:1/x"}, 2},
		{"password in a replica URL argument", []string{"crm", "api", "--database-url", "postgres://127.0.0.1:1/x", "--replica-url", "postgres://crm:s3cret@127.0.0.1:1/x"}, 2},
		{"bad log level", []string{"crm", "--log-level", "loud", "migrate", "--database-url", "postgres://x"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errb); code != tt.want {
				t.Errorf("exit %d, want %d: %s", code, tt.want, errb.String())
			}
		})
	}
	// The same URL from the environment is taken: migrate gets as far as
	// dialling (nothing listens there: exit 1, not a usage error).
	t.Setenv("CRM_DATABASE_URL", "postgres://crm:s3cret@127.0.0.1:1/x")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"crm", "migrate"}, &out, &errb); code != 1 || strings.Contains(errb.String(), "s3cret") {
		t.Errorf("a password in CRM_DATABASE_URL: exit %d, want 1 without the password in the error: %s", code, errb.String())
	}
	for in, want := range map[string]int64{"25M": 25_000_000, "500k": 500_000, "1000": 1000} {
		if got, err := parseCount(in); err != nil || got != want {
			t.Errorf("parseCount(%q) = %d, %v", in, got, err)
		}
	}
}
