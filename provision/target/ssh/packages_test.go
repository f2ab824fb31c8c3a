package ssh

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
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ssh/sshtest"
)

// TestPackagesOnTheRig asks a LAN machine of a rig in 10.234.0.0/17 (this
// test's own range; provision's package test has the upper half), through the DMZ one, which Debian packages it lacks,
// and reads and purges what the agent recorded there. The rig's machines
// are this machine, so postgresql-15 and memcached (make deps) are
// installed, and crmplan-absent-package is missing as on a bare machine;
// the namespaces have no route out, so nothing is downloaded.
func TestPackagesOnTheRig(t *testing.T) {
	dir := t.TempDir()
	dmz, lan := netip.MustParsePrefix("10.234.1.0/24"), netip.MustParsePrefix("10.234.2.0/24")
	rig := sshtest.New(t, sshtest.Config{Range: netip.MustParsePrefix("10.234.0.0/17"), DMZ: dmz, LAN: lan, Machines: []sshtest.Machine{
		{Name: "web-0", Zone: "dmz", Address: addr(dmz, 10), Dir: filepath.Join(dir, "web-0")},
		{Name: "db-1", Zone: "lan", Address: addr(lan, 10), Via: "web-0", Dir: filepath.Join(dir, "db-1")},
	}})
	tgt := New(load(t, rig.Inventory(t, "machines.yaml", nil)), "packages")
	t.Cleanup(func() { tgt.Close() })
	ctx := context.Background()

	missing, err := tgt.MissingPackages(ctx, "db-1", []string{"postgresql-15", "memcached", absent})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{absent}) {
		t.Errorf("MissingPackages = %v, want only %s (postgresql-15 and memcached are installed: make deps)", missing, absent)
	}

	m := rig.Machines["db-1"]
	h := target.Host{Name: "db-1", Dir: m.Dir}
	if got, err := tgt.InstalledPackages(ctx, h); err != nil || len(got) != 0 {
		t.Errorf("InstalledPackages of a host the agent installed nothing on = %v, %v; want none", got, err)
	}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, wire.PackagesFile), []byte("postgresql-15\nmemcached\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := tgt.InstalledPackages(ctx, h); err != nil || !slices.Equal(got, []string{"postgresql-15", "memcached"}) {
		t.Errorf("InstalledPackages = %v, %v; want what the host's %s lists", got, err, wire.PackagesFile)
	}

	// A purge runs apt-get on the machine: of a package apt knows nothing
	// of, it fails from its local lists, and says so with the host named.
	err = tgt.PurgePackages(ctx, "db-1", []string{absent})
	if crmplan.ErrorCode(err) != crmplan.EUNAVAILABLE || !strings.Contains(err.Error(), "Unable to locate package "+absent) || crmplan.ErrorHint(err) == "" {
		t.Errorf("PurgePackages(%s) = %v, want apt-get's refusal and a Try line", absent, err)
	}
}

const absent = "crmplan-absent-package"
