package agent

import (
	"context"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// absent is a package no Debian machine has: what a missing package looks
// like to the check, without installing or removing anything here.
const absent = "crmplan-absent-package"

func TestPackages(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian machine")
	}
	present := "postgresql-15"
	if missing, err := MissingPackages(context.Background(), []string{present}); err != nil || len(missing) > 0 {
		t.Skipf("%s is not installed here (make deps): %v", present, err)
	}
	tests := []struct {
		name     string
		op       wire.PackagesOp
		wantCode string
		wantMsg  string
		wantHint string
	}{
		{"present", wire.PackagesOp{Packages: []string{present}}, "", "", ""},
		// Nothing is missing, so apt-get does not even run.
		{"present, install allowed", wire.PackagesOp{Packages: []string{present}, Install: true}, "", "", ""},
		{"missing", wire.PackagesOp{Packages: []string{present, absent}}, crmplan.ENOTFOUND, "Debian package " + absent + " is not installed", "--install-packages"},
		// apt-get knows no such package: it fails from its local lists,
		// before it would download anything.
		{"missing, install fails", wire.PackagesOp{Packages: []string{absent}, Install: true}, crmplan.EUNAVAILABLE, "apt-get install " + absent, "apt-get install " + absent},
		{"not a package name", wire.PackagesOp{Packages: []string{"x; rm -rf /"}}, crmplan.EINVALID, "no Debian package name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Host{Dir: t.TempDir()}
			rep, err := h.Packages(context.Background(), tt.op, io.Discard)
			if tt.wantCode == "" {
				if err != nil || len(rep.Installed) > 0 {
					t.Fatalf("Packages = %+v, %v; want no error and nothing installed by crmplan", rep, err)
				}
				return
			}
			if crmplan.ErrorCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(crmplan.ErrorHint(err), tt.wantHint) {
				t.Fatalf("Packages = %v (code %q, Try: %q); want %s with %q and a Try with %q", err, crmplan.ErrorCode(err), crmplan.ErrorHint(err), tt.wantCode, tt.wantMsg, tt.wantHint)
			}
			if got, _ := h.InstalledPackages(); len(got) > 0 {
				t.Errorf("a failed check recorded %v as installed by crmplan", got)
			}
		})
	}
}

// TestRecordPackages: what the agent installed is listed once, across
// applies, in the host's directory.
func TestRecordPackages(t *testing.T) {
	h := Host{Dir: t.TempDir()}
	if err := h.recordPackages([]string{"postgresql-15"}); err != nil {
		t.Fatal(err)
	}
	if err := h.recordPackages([]string{"memcached", "postgresql-15"}); err != nil {
		t.Fatal(err)
	}
	got, err := h.InstalledPackages()
	if err != nil || !slices.Equal(got, []string{"postgresql-15", "memcached"}) {
		t.Errorf("InstalledPackages = %v, %v; want postgresql-15 memcached", got, err)
	}
}
