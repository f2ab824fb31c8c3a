// Package agent is what crmplan's agent does on a host when the mesh
// controller sends it work: install a release, start, stop or restart a
// role of the CRM, run migrations, report health. `crmplan-host agent VERB` is
// its command line; Receptor's command worker runs it with the unit's
// payload on stdin and streams its output back.
//
// A host directory holds:
//
//	releases/V/          one directory per release: the crm binary and its files
//	releases/V/.sha256   the payload digest it was installed from
//	current -> releases/V, previous -> releases/U
//	roles/ROLE.json      how the role runs (argv, environment; 0600)
//	crm-ROLE.*           the role's supervised process (supervise.Process)
//
// The agent is host-side: it imports supervise, health and the wire types
// it shares with the controller (provision/mesh/wire), never the planning
// side (Pulumi, sizing, topology, provision, provision/mesh).
package agent

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/crmplan/crmplan"
)

// versionRe is what a release version may look like: it becomes a
// directory name.
var versionRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// Host is a host directory the agent manages.
type Host struct {
	Dir string
	// MaxRelease caps a release payload in bytes; 0 is DefaultMaxRelease.
	// What it unpacks to is capped at unpackRatio times as much.
	MaxRelease int64
}

// DefaultMaxRelease is ten times the crm release of today (about 10 MB
// packed, 26 MB unpacked), room to grow that still keeps a payload from
// filling the host's disk.
const DefaultMaxRelease = 256 << 20

// unpackRatio bounds what a release may unpack to, as a multiple of
// MaxRelease: gzip packs a binary about 2.5 to 1, a run of zeros 1000 to 1.
const unpackRatio = 4

func (h Host) maxRelease() int64 {
	if h.MaxRelease > 0 {
		return h.MaxRelease
	}
	return DefaultMaxRelease
}

func (h Host) releasesDir() string          { return filepath.Join(h.Dir, "releases") }
func (h Host) releaseDir(v string) string   { return filepath.Join(h.releasesDir(), v) }
func (h Host) link(name string) string      { return filepath.Join(h.Dir, name) }
func (h Host) rolesDir() string             { return filepath.Join(h.Dir, "roles") }
func (h Host) roleSpecPath(r string) string { return filepath.Join(h.rolesDir(), r+".json") }

// Current returns the version that `current` points to, or "".
func (h Host) Current() string { return h.target("current") }

// Previous returns the version kept for rollback, or "".
func (h Host) Previous() string { return h.target("previous") }

func (h Host) target(name string) string {
	t, err := os.Readlink(h.link(name))
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// Install reads a release archive (tar.gz) from payload, checks its SHA-256
// against want, unpacks it into releases/VERSION and points `current` at
// it, keeping the release it replaces as `previous`. The payload is read
// whole (at most MaxRelease bytes, into a file beside the releases) and its
// digest checked before a byte of it is unpacked: the unpacker and the
// disk see only the archive the controller sent. Every step before the
// switch writes beside the live release, and the switch is one rename, so
// a failed install leaves the host as it was. Installing the version that
// is current again is a no-op when the digest matches.
func (h Host) Install(version, want string, payload io.Reader) error {
	if !versionRe.MatchString(version) {
		return crmplan.Errorf(crmplan.EINVALID, "release version %q must be letters, digits and . _ + -", version).In("--version")
	}
	want = strings.ToLower(want)
	if len(want) != 64 {
		return crmplan.Errorf(crmplan.EINVALID, "--sha256 must be 64 hex digits, got %q", want).In("--sha256")
	}
	if err := os.MkdirAll(h.releasesDir(), 0o755); err != nil {
		return err
	}
	archive, got, err := h.receive(version, payload)
	if err != nil {
		return err
	}
	defer os.Remove(archive.Name())
	defer archive.Close()
	if got != want {
		return crmplan.Errorf(crmplan.ECONFLICT, "release %s: payload SHA-256 is %s, want %s: it was changed or cut short in transit; nothing was installed",
			version, got, want).In("--sha256")
	}
	staging, err := os.MkdirTemp(h.releasesDir(), ".staging-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	if err := unpack(archive, staging, unpackRatio*h.maxRelease()); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(staging, ".sha256"), []byte(got+"\n"), 0o644); err != nil {
		return err
	}
	if err := syncDir(staging); err != nil {
		return err
	}
	dest := h.releaseDir(version)
	if h.Current() == version {
		if old, _ := os.ReadFile(filepath.Join(dest, ".sha256")); strings.TrimSpace(string(old)) == got {
			return nil
		}
		return crmplan.Errorf(crmplan.ECONFLICT, "release %s is live with different contents; give the new build a new version", version).In("--version")
	}
	if err := os.RemoveAll(dest); err != nil {
		return err
	}
	if err := os.Rename(staging, dest); err != nil {
		return err
	}
	old := h.Current()
	if err := h.setLink("current", version); err != nil {
		return err
	}
	if old != "" {
		if err := h.setLink("previous", old); err != nil {
			return err
		}
	}
	return h.prune()
}

// Rollback points `current` back at `previous` (and `previous` at what was
// current, so a second rollback undoes the first).
func (h Host) Rollback() (string, error) {
	cur, prev := h.Current(), h.Previous()
	if prev == "" {
		return "", crmplan.Errorf(crmplan.ENOTFOUND, "no previous release on %s to roll back to", h.Dir).In("host " + filepath.Base(h.Dir))
	}
	if err := h.setLink("current", prev); err != nil {
		return "", err
	}
	if cur != "" {
		if err := h.setLink("previous", cur); err != nil {
			return "", err
		}
	}
	return prev, nil
}

// setLink atomically points link name at releases/version: a new symlink
// renamed over the old one.
func (h Host) setLink(name, version string) error {
	tmp := h.link(name) + ".tmp-" + rand.Text()
	if err := os.Symlink(filepath.Join("releases", version), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, h.link(name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(h.Dir)
}

// prune removes releases other than current and previous.
func (h Host) prune() error {
	keep := map[string]bool{h.Current(): true, h.Previous(): true}
	entries, err := os.ReadDir(h.releasesDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] && !strings.HasPrefix(e.Name(), ".staging-") {
			if err := os.RemoveAll(filepath.Join(h.releasesDir(), e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// receive copies the payload into a file beside the releases (the prune
// keeps ".staging-" names), at most MaxRelease bytes, and returns it
// rewound with the hex SHA-256 of what it holds.
func (h Host) receive(version string, payload io.Reader) (*os.File, string, error) {
	f, err := os.CreateTemp(h.releasesDir(), ".staging-payload-")
	if err != nil {
		return nil, "", err
	}
	fail := func(err error) (*os.File, string, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, "", err
	}
	sum, limit := sha256.New(), h.maxRelease()
	n, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(payload, limit+1))
	if err != nil {
		return fail(fmt.Errorf("receive release %s: %w", version, err))
	}
	if n > limit {
		return fail(crmplan.Errorf(crmplan.EINVALID, "release %s: payload is larger than %d bytes; nothing was installed", version, limit).
			In("--sha256").Try("build a smaller release, or raise the agent's cap (agent.Host.MaxRelease)"))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, hex.EncodeToString(sum.Sum(nil)), nil
}

// unpack extracts a tar.gz archive, already checked, into dir: regular
// files at relative paths inside dir only, at most limit bytes in all.
func unpack(archive io.Reader, dir string, limit int64) error {
	zr, err := gzip.NewReader(archive)
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "release payload is not a gzip archive: %w", err)
	}
	tr := tar.NewReader(zr)
	left := limit
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return crmplan.Errorf(crmplan.EINVALID, "release payload: %w", err)
		}
		if hdr.Size > left {
			return crmplan.Errorf(crmplan.EINVALID, "release payload unpacks to more than %d bytes (at %q)", limit, hdr.Name)
		}
		left -= hdr.Size
		if err := extract(tr, hdr, dir); err != nil {
			return err
		}
	}
}

func extract(tr *tar.Reader, hdr *tar.Header, dir string) error {
	name := filepath.Clean(hdr.Name)
	if hdr.Typeflag != tar.TypeReg || filepath.IsAbs(name) || name == "." || strings.HasPrefix(name, "..") || strings.HasPrefix(name, ".sha256") {
		return crmplan.Errorf(crmplan.EINVALID, "release payload: refusing entry %q (only regular files inside the release)", hdr.Name)
	}
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(hdr.Mode).Perm()|0o400)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, tr); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
