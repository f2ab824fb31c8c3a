package provision

import (
	"context"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/watchdog"
)

// TestResolveHost: a chaos target names a host, a role (as it stands after
// a failover) or app-N; anything else is refused with the stack's hosts.
func TestResolveHost(t *testing.T) {
	inv := stackdir.Inventory{Stack: "s", Target: "local", Hosts: []stackdir.InventoryHost{
		{Name: "web-1", Role: "web"},
		{Name: "api-1", Role: "api"},
		{Name: "api-2", Role: "api"},
		{Name: "db-primary-1", Role: "db-primary"},
		{Name: "db-replica-1", Role: "db-replica"},
	}}
	tests := []struct {
		name, target string
		failedOver   bool
		want         string
		wantCode     string
	}{
		{name: "host name", target: "api-2", want: "api-2"},
		{name: "app-N is the N-th api server", target: "app-1", want: "api-1"},
		{name: "role: its first host", target: "api", want: "api-1"},
		{name: "db-primary before a failover", target: "db-primary", want: "db-primary-1"},
		{name: "db-primary after a failover is the promoted replica", target: "db-primary", failedOver: true, want: "db-replica-1"},
		{name: "db-replica after a failover is the old primary", target: "db-replica", failedOver: true, want: "db-primary-1"},
		{name: "no such host", target: "api-9", wantCode: crmplan.EINVALID},
		{name: "no such app server", target: "app-3", wantCode: crmplan.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := stackdir.SaveInventory(dir, inv); err != nil {
				t.Fatal(err)
			}
			if tt.failedOver {
				p := watchdog.Promotion{Promoted: "db-replica-1", Retired: "db-primary-1", At: time.Now()}
				if err := watchdog.SavePromotion(stackdir.Paths{StateDir: dir, Stack: "s"}, p); err != nil {
					t.Fatal(err)
				}
			}
			h, err := ResolveHost(dir, "s", tt.target)
			if tt.wantCode != "" {
				if code := crmplan.ErrorCode(err); code != tt.wantCode {
					t.Fatalf("ResolveHost(%q) = %v (code %q), want code %q", tt.target, err, code, tt.wantCode)
				}
				return
			}
			if err != nil || h.Name != tt.want {
				t.Fatalf("ResolveHost(%q) = %q, %v; want %q", tt.target, h.Name, err, tt.want)
			}
		})
	}
}

// TestKillHostRefuses: a stack never applied, a host it does not have and
// a stack without a mesh are errors, not silent no-ops (a chaos run must
// not report a fault that did not happen).
func TestKillHostRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, _, err := KillHost(ctx, dir, "s", "api-1"); crmplan.ErrorCode(err) != crmplan.ENOTFOUND {
		t.Errorf("kill on a stack never applied: %v, want %s", err, crmplan.ENOTFOUND)
	}
	inv := stackdir.Inventory{Stack: "s", Target: "local", Hosts: []stackdir.InventoryHost{
		{Name: "api-1", Role: "api", Dir: stackdir.Paths{StateDir: dir, Stack: "s"}.HostDir("api-1")},
	}}
	if err := stackdir.SaveInventory(dir, inv); err != nil {
		t.Fatal(err)
	}
	if _, _, err := KillHost(ctx, dir, "s", "api-9"); crmplan.ErrorCode(err) != crmplan.EINVALID {
		t.Errorf("kill of a host the stack does not have: %v, want %s", err, crmplan.EINVALID)
	}
	if host, _, err := KillHost(ctx, dir, "s", "api-1"); host != "api-1" || crmplan.ErrorCode(err) != crmplan.ENOTFOUND {
		t.Errorf("kill on a stack without a mesh = %q, %v; want api-1 and %s", host, err, crmplan.ENOTFOUND)
	}
}
