package provision

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/provision/target/ssh/sshtest"
	"github.com/crmplan/crmplan/topology"
)

// TestCheckPackages runs apply's package preflight against a rig in
// 10.234.128.0/17 (this test's own range): a DMZ machine and a database
// machine reached through it. The rig's machines are this machine, which
// has postgresql-15 (make deps); a machine without it is the same check
// asking for a package that is really not installed anywhere.
func TestCheckPackages(t *testing.T) {
	dir := t.TempDir()
	dmz, lan := netip.MustParsePrefix("10.234.129.0/24"), netip.MustParsePrefix("10.234.130.0/24")
	rig := sshtest.New(t, sshtest.Config{Range: netip.MustParsePrefix("10.234.128.0/17"), DMZ: dmz, LAN: lan, Machines: []sshtest.Machine{
		{Name: "web-1", Zone: "dmz", Address: netip.MustParseAddr("10.234.129.10"), Dir: filepath.Join(dir, "web-1")},
		{Name: "db-primary-1", Zone: "lan", Address: netip.MustParseAddr("10.234.130.10"), Via: "web-1", Dir: filepath.Join(dir, "db-primary-1")},
	}})
	inv, err := ssh.LoadInventory(rig.Inventory(t, "machines.yaml", nil))
	if err != nil {
		t.Fatal(err)
	}
	tgt := ssh.New(inv, "packages")
	t.Cleanup(func() { tgt.Close() })
	l := Layout{Hosts: []LocalHost{
		{Host: topology.Host{Name: "web-1", Role: topology.RoleWeb}},
		{Host: topology.Host{Name: "db-primary-1", Role: topology.RoleDBPrimary}},
	}}
	const absent = "crmplan-absent-package"
	lacking := func(r topology.Role) []string {
		if r == topology.RoleDBPrimary {
			return []string{"postgresql-15", absent}
		}
		return nil
	}
	ctx := context.Background()
	if err := checkPackages(ctx, tgt, l, rolePackages); err != nil {
		t.Errorf("machines with postgresql-15: %v", err)
	}
	err = checkPackages(ctx, tgt, l, lacking)
	if crmplan.ErrorCode(err) != crmplan.ENOTFOUND || !strings.Contains(err.Error(), "lacks the Debian package "+absent) ||
		!strings.Contains(crmplan.ErrorHint(err), "--install-packages") {
		t.Errorf("a machine without %s: %v (Try: %q); want the package named and --install-packages", absent, err, crmplan.ErrorHint(err))
	}
	if e, ok := err.(*crmplan.Error); !ok || e.Field != "host db-primary-1" {
		t.Errorf("error placed at %v, want host db-primary-1", err)
	}
	l.InstallPackages = true
	if err := checkPackages(ctx, tgt, l, lacking); err != nil {
		t.Errorf("with --install-packages the agent installs it later; preflight said %v", err)
	}

	// Destroy lists what the agent recorded it installed, host by host.
	if left, err := leftPackages(ctx, tgt); err != nil || len(left) != 0 {
		t.Errorf("leftPackages before any install = %v, %v; want none", left, err)
	}
	db := inv.Dir("packages", "db-primary-1")
	if err := os.MkdirAll(db, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(db, wire.PackagesFile), []byte("postgresql-15\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if left, err := leftPackages(ctx, tgt); err != nil || len(left) != 1 || !slices.Equal(left["db-primary-1"], []string{"postgresql-15"}) {
		t.Errorf("leftPackages = %v, %v; want db-primary-1: postgresql-15", left, err)
	}
}
