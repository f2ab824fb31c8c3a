package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
)

// TestWebBackendsLeaveTheArgv: crm web's backends (and crm integration's
// and crm proxy's) travel in a file, so that a spec differing only in them
// leaves the supervised argv as it is (and the running balancer is
// reloaded, not restarted); any other role, and any other argument, stays
// in the argv.
func TestWebBackendsLeaveTheArgv(t *testing.T) {
	h := Host{Dir: t.TempDir()}
	crm := filepath.Join(h.Dir, "current", "crm")
	file := h.backendsPath("web")
	tests := []struct {
		name         string
		spec         RoleSpec
		wantArgv     []string
		wantBackends []string
	}{
		{"web", RoleSpec{Role: "web", Listen: "127.0.0.1:8080", Args: []string{"--backend", "http://a:1", "--backend=http://b:2", "--admin-socket", "s"}},
			[]string{crm, "web", "--listen", "127.0.0.1:8080", "--admin-socket", "s", "--backends-file", file}, []string{"http://a:1", "http://b:2"}},
		{"failover switch", RoleSpec{Role: "web", Listen: "127.0.0.1:8080", Args: []string{"--mode", "failover", "--backend", "http://a:1"}},
			[]string{crm, "web", "--listen", "127.0.0.1:8080", "--mode", "failover", "--backends-file", file}, []string{"http://a:1"}},
		{"web without backends", RoleSpec{Role: "web", Listen: "127.0.0.1:8080"},
			[]string{crm, "web", "--listen", "127.0.0.1:8080"}, nil},
		{"the ESB", RoleSpec{Role: "integration", Listen: "127.0.0.1:8084", Args: []string{"--backend", "http://a:1", "--admin-socket", "s"}},
			[]string{crm, "integration", "--listen", "127.0.0.1:8084", "--admin-socket", "s", "--backends-file", h.backendsPath("integration")}, []string{"http://a:1"}},
		{"the access proxy", RoleSpec{Role: "proxy", Listen: "127.0.0.1:8090", Args: []string{"--backend", "http://a:1", "--admin-socket", "s"}},
			[]string{crm, "proxy", "--listen", "127.0.0.1:8090", "--admin-socket", "s", "--backends-file", h.backendsPath("proxy")}, []string{"http://a:1"}},
		{"the admin console", RoleSpec{Role: "admin", Listen: "127.0.0.1:8087", Args: []string{"--backend", "http://a:1", "--broker", "http://q:2", "--admin-socket", "s"}},
			[]string{crm, "admin", "--listen", "127.0.0.1:8087", "--broker", "http://q:2", "--admin-socket", "s", "--backends-file", h.backendsPath("admin")}, []string{"http://a:1"}},
		{"not a balancer", RoleSpec{Role: "marketing", Listen: "127.0.0.1:8088", Args: []string{"--backend", "http://a:1"}},
			[]string{crm, "marketing", "--listen", "127.0.0.1:8088", "--backend", "http://a:1"}, []string{"http://a:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.process(tt.spec).Argv; !slices.Equal(got, tt.wantArgv) {
				t.Errorf("argv %q, want %q", got, tt.wantArgv)
			}
			if _, got := splitBackends(tt.spec.Args); !slices.Equal(got, tt.wantBackends) {
				t.Errorf("backends %q, want %q", got, tt.wantBackends)
			}
		})
	}
	more := RoleSpec{Role: "web", Listen: "127.0.0.1:8080", Args: []string{"--backend", "http://a:1", "--backend", "http://c:3", "--admin-socket", "s"}}
	if a, b := h.process(tests[0].spec).Argv, h.process(more).Argv; !slices.Equal(a, b) {
		t.Errorf("another api server changes the argv: %q -> %q", a, b)
	}
}

// crmRelease builds cmd/crm into a release v1 of a new host and makes it
// current.
func crmRelease(t *testing.T) Host {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs crm")
	}
	h := Host{Dir: t.TempDir()}
	if err := os.MkdirAll(h.releaseDir("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(h.releaseDir("v1"), "crm"), "github.com/crmplan/crmplan/cmd/crm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build crm: %v\n%s", err, out)
	}
	if err := h.setLink("current", "v1"); err != nil {
		t.Fatal(err)
	}
	return h
}

// freeListen returns a loopback address nothing listens on.
func freeListen(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestPoolChangesInPlace: a running db client (crm api, worker, etl)
// given a spec that differs only in its pool size takes it without a
// restart (same process, same start time, the new size in its metrics),
// from Start and from StartInPlace alike; StartInPlace refuses any other
// change with a conflict and leaves it running, and Start restarts it for
// one.
func TestPoolChangesInPlace(t *testing.T) {
	h := crmRelease(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"api", "worker", "etl"} {
		t.Run(role, func(t *testing.T) { poolChangesInPlace(t, h, self, role) })
	}
}

func poolChangesInPlace(t *testing.T, h Host, self, role string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// pgx connects lazily: crm serves /healthz and /metrics before any
	// database answers, which is all this test asks of it.
	listen := freeListen(t)
	spec := func(pool string, extra ...string) RoleSpec {
		env := map[string]string{"CRM_DATABASE_URL": "postgres://crm@127.0.0.1:1/crm", poolEnv: pool}
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		return RoleSpec{Role: role, Listen: listen, Env: env}
	}
	t.Cleanup(func() { _ = h.Stop(role) })
	started := func() (int, string) {
		t.Helper()
		pid, ok := h.webPID(spec("0"))
		if !ok {
			t.Fatalf("crm %s does not run", role)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// Field 22, the start time, counted after the command's parentheses.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		return pid, fields[19]
	}
	wantPool := func(want int) {
		t.Helper()
		if got, err := poolMax(ctx, listen); err != nil || got != want {
			t.Fatalf("pool size %d (%v), want %d", got, err, want)
		}
	}
	if err := h.Start(ctx, self, spec("4")); err != nil {
		t.Fatal(err)
	}
	wantPool(4)
	pid, since := started()

	if err := h.Start(ctx, self, spec("3")); err != nil {
		t.Fatal(err)
	}
	wantPool(3)
	if p, s := started(); p != pid || s != since {
		t.Errorf("a new pool size restarted crm %s: pid %d since %s, was %d since %s", role, p, s, pid, since)
	}
	if err := h.StartInPlace(ctx, spec("6")); err != nil {
		t.Fatal(err)
	}
	wantPool(6)
	if b, err := os.ReadFile(h.poolPath(role)); err != nil || strings.TrimSpace(string(b)) != "6" {
		t.Errorf("pool file %q (%v), want 6: a restart by the supervisor would take another size", b, err)
	}

	other := spec("6", "CRM_LOG_LEVEL", "warn")
	if err := h.StartInPlace(ctx, other); crmplan.ErrorCode(err) != crmplan.ECONFLICT {
		t.Errorf("StartInPlace with another environment: %v, want a conflict", err)
	}
	if p, s := started(); p != pid || s != since {
		t.Errorf("a refused in-place change restarted crm %s", role)
	}
	if err := h.Start(ctx, self, other); err != nil {
		t.Fatal(err)
	}
	if p, _ := started(); p == pid {
		t.Errorf("another environment did not restart crm %s (pid %d)", role, p)
	}
	wantPool(6)
}
