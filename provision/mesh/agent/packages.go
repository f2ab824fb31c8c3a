package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// debianName is what a Debian package name may be (Debian policy 5.6.1):
// the names travel into apt-get's argv, so nothing else passes.
var debianName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// Packages makes sure op's Debian packages are installed on the machine:
// the missing ones are an error, or with op.Install are apt-get installed,
// and then listed in the host's wire.PackagesFile, so that destroy knows
// what crmplan added to the machine (a package the machine had is never
// listed). apt-get's output goes to log.
func (h Host) Packages(ctx context.Context, op wire.PackagesOp, log io.Writer) (wire.PackagesReport, error) {
	var rep wire.PackagesReport
	for _, p := range op.Packages {
		if !debianName.MatchString(p) {
			return rep, crmplan.Errorf(crmplan.EINVALID, "%q is no Debian package name", p).In("payload")
		}
	}
	missing, err := MissingPackages(ctx, op.Packages)
	if err != nil {
		return rep, err
	}
	if len(missing) > 0 && !op.Install {
		return rep, crmplan.Errorf(crmplan.ENOTFOUND, "Debian package %s is not installed on this machine", strings.Join(missing, ", ")).In(h.Dir).
			Try("crmplan apply ... --install-packages (the agent apt-get installs it), or apt-get install %s on the machine", strings.Join(missing, " "))
	}
	if len(missing) > 0 {
		if err := aptInstall(ctx, missing, log); err != nil {
			return rep, err
		}
		still, err := MissingPackages(ctx, missing)
		if err != nil {
			return rep, err
		}
		if err := h.recordPackages(slices.DeleteFunc(missing, func(p string) bool { return slices.Contains(still, p) })); err != nil {
			return rep, err
		}
		if len(still) > 0 {
			return rep, crmplan.Errorf(crmplan.EUNAVAILABLE, "apt-get install left %s not installed", strings.Join(still, ", ")).In(h.Dir).
				Try("apt-get install %s on the machine, and read its output", strings.Join(still, " "))
		}
	}
	rep.Installed, err = h.InstalledPackages()
	return rep, err
}

// MissingPackages returns those of pkgs that dpkg does not list as
// installed.
func MissingPackages(ctx context.Context, pkgs []string) ([]string, error) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "no dpkg-query: the machine is not Debian's, whose packages crmplan checks (%s)", strings.Join(pkgs, ", ")).
			Try("install %s on the machine by its own means, or use a Debian machine", strings.Join(pkgs, ", "))
	}
	var missing []string
	for _, p := range pkgs {
		// Exit status 1 is "no such package known", which is missing too.
		out, _ := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${db:Status-Status}", p).Output()
		if strings.TrimSpace(string(out)) != "installed" {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// aptInstall runs apt-get install -y, without questions and without the
// recommended extras.
func aptInstall(ctx context.Context, pkgs []string, log io.Writer) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout = io.MultiWriter(log, &out)
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "apt-get install %s: %w: %s", strings.Join(pkgs, " "), err, lastLines(out.String(), 3)).
			Try("apt-get install %s on the machine (it needs its package sources reachable)", strings.Join(pkgs, " "))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
}

// InstalledPackages are the packages the agent installed on the machine
// for this host, as wire.PackagesFile lists them.
func (h Host) InstalledPackages() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(h.Dir, wire.PackagesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return strings.Fields(string(b)), err
}

func (h Host) recordPackages(pkgs []string) error {
	if len(pkgs) == 0 {
		return nil
	}
	all, err := h.InstalledPackages()
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	return renameio.WriteFile(filepath.Join(h.Dir, wire.PackagesFile), []byte(fmt.Sprintln(strings.Join(all, "\n"))), 0o644)
}
