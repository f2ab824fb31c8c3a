package mesh

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// Release is a build of the CRM to deploy: a tar.gz of its files, and the
// digest the agent checks before installing it.
type Release struct {
	Version string
	Archive []byte
	SHA256  string
}

// NewRelease packs files (name inside the release -> path here) into a
// release. The archive is deterministic: the same files give the same
// digest, so re-deploying a build is a no-op on the hosts.
func NewRelease(version string, files map[string]string) (Release, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := addFile(tw, name, files[name]); err != nil {
			return Release{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Release{}, err
	}
	if err := zw.Close(); err != nil {
		return Release{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return Release{Version: version, Archive: buf.Bytes(), SHA256: hex.EncodeToString(sum[:])}, nil
}

func addFile(tw *tar.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// Install sends rel to host, where the agent checks and installs it and
// keeps the release it replaces for rollback.
func (m *Mesh) Install(ctx context.Context, host string, rel Release) (Output, error) {
	return m.Run(ctx, host, Work{Type: wire.WorkInstall, Args: []string{"--version", rel.Version, "--sha256", rel.SHA256},
		Payload: bytes.NewReader(rel.Archive)})
}

// StartRole starts a role on host from spec and waits until it is healthy.
func (m *Mesh) StartRole(ctx context.Context, host string, spec wire.RoleSpec) (Output, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return Output{}, err
	}
	return m.Run(ctx, host, Work{Type: wire.WorkStart, Payload: bytes.NewReader(data)})
}

// StartRoleInPlace changes the running role on host to spec without
// restarting it (crm api, worker and etl take a new pool size that way). It fails with
// crmplan.ECONFLICT when the change needs a restart: use StartRole then.
func (m *Mesh) StartRoleInPlace(ctx context.Context, host string, spec wire.RoleSpec) (Output, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return Output{}, err
	}
	return m.Run(ctx, host, Work{Type: wire.WorkStart, Args: []string{"--in-place"}, Payload: bytes.NewReader(data)})
}

// Step is a caller's action on one host during a rolling deploy.
type Step func(ctx context.Context, host string) error

// HostResult is what a rolling deploy did on one host.
type HostResult struct {
	Host     string
	Duration time.Duration
	Err      error
}

// Rollout is the outcome of a rolling deploy.
type Rollout struct {
	Release  string
	Hosts    []HostResult
	Duration time.Duration
}

// RollingDeploy puts rel on hosts (running role) one at a time: drain takes
// the host out of the load balancer's rotation, the agent installs the
// release and restarts the role on it (waiting for /healthz), and healthy
// must confirm the host serves again (e.g. the balancer has it back in
// rotation) before the next host is touched. drain and healthy may be nil.
//
// The first failure stops the rollout: that host is rolled back to its
// previous release and restarted, and hosts not reached yet keep theirs,
// so at most one host is ever out of rotation.
func (m *Mesh) RollingDeploy(ctx context.Context, rel Release, role string, hosts []string, drain, healthy Step) (Rollout, error) {
	out := Rollout{Release: rel.Version}
	began := time.Now()
	defer func() { out.Duration = time.Since(began) }()
	for _, host := range hosts {
		t0 := time.Now()
		err := m.deployOne(ctx, rel, role, host, drain, healthy)
		out.Hosts = append(out.Hosts, HostResult{Host: host, Duration: time.Since(t0), Err: err})
		if err != nil {
			out.Duration = time.Since(began)
			return out, err
		}
	}
	out.Duration = time.Since(began)
	return out, nil
}

func (m *Mesh) deployOne(ctx context.Context, rel Release, role, host string, drain, healthy Step) error {
	if drain != nil {
		if err := drain(ctx, host); err != nil {
			return fmt.Errorf("drain %s: %w", host, err)
		}
	}
	if _, err := m.Install(ctx, host, rel); err != nil {
		return err
	}
	_, err := m.Run(ctx, host, Work{Type: wire.WorkRestart, Args: []string{"--role", role}})
	if err == nil && healthy != nil {
		err = healthy(ctx, host)
	}
	if err == nil {
		return nil
	}
	// Put the host back on the release it ran, so it can serve again.
	if _, rbErr := m.Run(ctx, host, Work{Type: wire.WorkRollback}); rbErr == nil {
		_, _ = m.Run(ctx, host, Work{Type: wire.WorkRestart, Args: []string{"--role", role}})
	}
	return fmt.Errorf("release %s on %s (rolled back): %w", rel.Version, host, err)
}
