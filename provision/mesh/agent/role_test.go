package agent

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestWebBackendsLeaveTheArgv: crm web's backends travel in a file, so
// that a spec differing only in them leaves the supervised argv as it is
// (and the running web is reloaded, not restarted); any other role, and
// any other argument, stays in the argv.
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
		{"not a balancer", RoleSpec{Role: "proxy", Listen: "127.0.0.1:8090", Args: []string{"--backend", "http://a:1"}},
			[]string{crm, "proxy", "--listen", "127.0.0.1:8090", "--backend", "http://a:1"}, []string{"http://a:1"}},
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
