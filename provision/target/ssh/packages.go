package ssh

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/target"
)

// noDpkg is what the package check prints on a machine without dpkg.
const noDpkg = "crmplan: no dpkg-query"

// MissingPackages logs in to host's machine and returns those of pkgs
// (Debian package names) that dpkg does not list as installed: apply's
// preflight asks before anything is written, so that a machine without
// postgresql-15 stops it with the package named.
func (t *Target) MissingPackages(ctx context.Context, host string, pkgs []string) ([]string, error) {
	if len(pkgs) == 0 {
		return nil, nil
	}
	quoted := make([]string, len(pkgs))
	for i, p := range pkgs {
		quoted[i] = quote(p)
	}
	out, err := t.run(ctx, host, fmt.Sprintf(`command -v dpkg-query >/dev/null || { echo %s; exit 0; }
for p in %s; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || echo "$p"
done`, quote(noDpkg), strings.Join(quoted, " ")))
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", host, err)
	}
	if strings.Contains(out, noDpkg) {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "machine %s has no dpkg-query: crmplan checks the Debian packages %s, and this is not a Debian machine",
			t.Inventory.Machines[host].Address, strings.Join(pkgs, ", ")).In("host "+host).
			Try("a Debian machine for host %s in %s", host, t.Inventory.File)
	}
	return strings.Fields(out), nil
}

// InstalledPackages are the packages the agent installed on h's machine
// (crmplan apply --install-packages), as its install directory lists
// them: what destroy leaves, and says so, or purges.
func (t *Target) InstalledPackages(ctx context.Context, h target.Host) ([]string, error) {
	out, err := t.run(ctx, h.Name, "cat "+quote(filepath.Join(h.Dir, wire.PackagesFile))+" 2>/dev/null; true")
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	return strings.Fields(out), nil
}

// PurgePackages removes pkgs from host's machine with apt-get purge.
func (t *Target) PurgePackages(ctx context.Context, host string, pkgs []string) error {
	if len(pkgs) == 0 {
		return nil
	}
	quoted := make([]string, len(pkgs))
	for i, p := range pkgs {
		quoted[i] = quote(p)
	}
	if out, err := t.run(ctx, host, "DEBIAN_FRONTEND=noninteractive apt-get purge -y "+strings.Join(quoted, " ")+" 2>&1"); err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "apt-get purge %s: %w: %s", strings.Join(pkgs, " "), err, strings.TrimSpace(out)).In("host "+host).
			Try("apt-get purge %s on the machine", strings.Join(pkgs, " "))
	}
	return nil
}
