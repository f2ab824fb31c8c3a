package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/seed"
	"github.com/crmplan/crmplan/pgserver"
)

// TestBrowserFlow drives the embedded UI in Debian's headless Chromium
// against a real stack: PostgreSQL from pgserver, `crm migrate`, `crm seed`,
// one `crm api` and `crm web` in front of it, all from a freshly built
// cmd/crm. The browser part is e2e/flow.mjs (playwright-core), run at
// 1280x800 and at 390x844; screenshots land in
// <repo>/test-artifacts/ui/<viewport>/.
func TestBrowserFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end browser test; runs without -short")
	}
	chromium := envOr("CHROMIUM", "/usr/bin/chromium")
	needFile(t, chromium, "install Debian's chromium: make deps (or set CHROMIUM)")
	needFile(t, "node_modules/playwright-core/package.json", "install the UI's packages: make ui")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found on PATH: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	crm := buildCRM(ctx, t, tmp)

	pg := pgserver.StartTest(t)
	if err := pg.CreateDatabase(ctx, "crm"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	dbURL := pg.URL("crm")
	const key = "e2e-browser-password-key"
	password := seed.UserPassword([]byte(key), "admin@example.com")
	env := []string{"CRM_DATABASE_URL=" + dbURL, "CRM_SEED_PASSWORD_KEY=" + key}

	runCRM(ctx, t, crm, env, "migrate")
	runCRM(ctx, t, crm, env, "seed", "--records", "2000")

	apiAddr, webAddr := freeAddr(t), freeAddr(t)
	startCRM(ctx, t, crm, tmp, env, "api", "--listen", apiAddr)
	waitReady(ctx, t, "http://"+apiAddr+"/readyz")
	startCRM(ctx, t, crm, tmp, env, "web", "--listen", webAddr, "--backend", "http://"+apiAddr)
	webURL := "http://" + webAddr
	waitReady(ctx, t, webURL+"/readyz")

	// The whole flow at a desktop and at a phone size, one after the other
	// against the same stack: each run names its records with its own stamp.
	for _, viewport := range []string{"1280x800", "390x844"} {
		out := filepath.Join(repoRoot(t), "test-artifacts", "ui", viewport)
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, node, "e2e/flow.mjs", "--url", webURL, "--out", out,
			"--email", "admin@example.com", "--chromium", chromium, "--viewport", viewport)
		cmd.Env = append(os.Environ(), "CRM_E2E_PASSWORD="+password)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err = cmd.Run()
		t.Logf("browser flow at %s:\n%s", viewport, buf.String())
		if err != nil {
			t.Fatalf("browser flow at %s: %v (screenshots in %s)", viewport, err, out)
		}
		for _, png := range []string{"dashboard.png", "pipeline.png", "long-pipeline.png"} {
			if st, err := os.Stat(filepath.Join(out, png)); err != nil || st.Size() < 10_000 {
				t.Errorf("screenshot %s at %s missing or nearly empty: %v", png, viewport, err)
			}
		}
	}
}

func buildCRM(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "crm")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crm")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/crm: %v\n%s", err, out)
	}
	return bin
}

func runCRM(ctx context.Context, t *testing.T, crm string, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, crm, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// startCRM runs a long-lived crm role with its log in dir, and stops it
// with SIGTERM (graceful shutdown) when the test ends.
func startCRM(ctx context.Context, t *testing.T, crm, dir string, env []string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, args[0]+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, crm, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crm %s: %v", args[0], err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("crm %s log:\n%s", args[0], tail(b, 4000))
		}
	})
}

func waitReady(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 30s: %s", url, last)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	return root
}

func needFile(t *testing.T, path, hint string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: %s", path, hint)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return fmt.Sprintf("…%s", b)
}
