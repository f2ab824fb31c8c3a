package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/health"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// RoleSpec is how a role runs on this host (the start unit's payload).
type RoleSpec = wire.RoleSpec

// validRoles are the crm subcommands that are long-running roles: every
// role of the seeds but PostgreSQL runs as one of them. A loadgen host has
// none: its k6 runs only for the length of a verify, as crmplan-load units
// (Load).
var validRoles = map[string]bool{
	"web": true, "api": true, "worker": true, "cache": true, "docstore": true, "integration": true,
	"etl": true, "scheduler": true, "queue": true, "proxy": true, "kv": true, "mail": true, "admin": true,
	"vpn": true, "marketing": true,
}

func check(s RoleSpec) error {
	if !validRoles[s.Role] {
		return crmplan.Errorf(crmplan.EINVALID, "role must be a crm role (web, api, worker, cache, docstore, integration, etl, scheduler, queue, proxy, kv, mail, admin, vpn, marketing), got %q", s.Role).In("--role")
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "listen address %q: %w", s.Listen, err).In("role spec")
	}
	return nil
}

// process is the role's supervised process. Its argv names the crm binary
// through `current`, so a restart after an install runs the new release.
// The name matches what the local target's CrmService runs, so either can
// stop what the other started.
func (h Host) process(s RoleSpec) supervise.Process {
	args := s.Args
	if reloadsBackends[s.Role] {
		// Its backends go in a file it reads, not in its argv: see startBalancer.
		var backends []string
		if args, backends = splitBackends(s.Args); len(backends) > 0 {
			args = append(args, "--backends-file", h.backendsPath(s.Role))
		}
	}
	envs := s.Env
	if _, ok := s.Env[poolEnv]; ok && resizesPool[s.Role] {
		// Its pool size goes in a file it re-reads on SIGHUP: see resizePool.
		envs = maps.Clone(s.Env)
		delete(envs, poolEnv)
		args = append(slices.Clip(args), "--db-max-conns-file", h.poolPath(s.Role))
	}
	argv := append([]string{filepath.Join(h.Dir, "current", "crm"), s.Role, "--listen", s.Listen}, args...)
	keys := make([]string, 0, len(envs))
	for k := range envs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+envs[k])
	}
	return supervise.Process{Name: "crm-" + s.Role, Dir: h.Dir, Argv: argv, Env: env}
}

// Start records the role's spec and starts it under a supervisor (self is
// the crmplan-host binary, which is the supervisor), then waits until it
// answers /healthz. A role that runs already is restarted with the spec.
func (h Host) Start(ctx context.Context, self string, s RoleSpec) error {
	if err := check(s); err != nil {
		return err
	}
	if h.Current() == "" {
		return crmplan.Errorf(crmplan.ECONFLICT, "no release installed on %s", filepath.Base(h.Dir)).Try("install a release first (work type crmplan-install)")
	}
	if err := h.recordSpec(s); err != nil {
		return err
	}
	if err := h.writePool(s); err != nil {
		return err
	}
	if balancers[s.Role] || reloadsBackends[s.Role] {
		return h.startBalancer(ctx, self, s)
	}
	// A db client (api, worker, etl) unchanged but for its pool size
	// takes it in place: no restart. Whatever keeps it from that (another spec, release or a
	// resize that did not take) is what a restart is for. Other roles
	// restart on every start, as callers expect.
	if resizesPool[s.Role] && h.Reconfigure(ctx, s) == nil {
		return nil
	}
	return h.run(ctx, self, s)
}

// poolEnv is the environment variable of a role's database pool size.
const poolEnv = "CRM_DB_MAX_CONNS"

// resizesPool are the roles that take a new pool size without a restart
// (crm api, worker and etl replace their pools on SIGHUP). The sizing
// divides each such tier's total of the database's connections among its
// servers, so every server's pool changes when its tier scales, and the
// ones that stay must keep serving (and a worker its job): a restart,
// even drained, is a restart.
var resizesPool = map[string]bool{"api": true, "worker": true, "etl": true}

// poolPath is the file of a role's pool size (--db-max-conns-file).
func (h Host) poolPath(role string) string { return filepath.Join(h.rolesDir(), role+".pool") }

// StartInPlace records spec s as Start does and makes the running role
// run as s without restarting it, or fails with ECONFLICT, leaving the
// role as it runs until a start.
func (h Host) StartInPlace(ctx context.Context, s RoleSpec) error {
	if err := check(s); err != nil {
		return err
	}
	if err := h.recordSpec(s); err != nil {
		return err
	}
	return h.Reconfigure(ctx, s)
}

// recordSpec writes s as the role's spec (0600: its environment holds
// passwords), which Spec, Restart and Stop read.
func (h Host) recordSpec(s RoleSpec) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.rolesDir(), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(h.roleSpecPath(s.Role), data, 0o600)
}

// Reconfigure makes the running role run as spec s without restarting
// it: it is done when the role runs the current release with the same
// arguments and environment, but for a new pool size, which it takes in
// place. Anything else needs a restart: ECONFLICT says so, and the role
// is left as it runs (its pool file is the new one, which the next start
// uses).
func (h Host) Reconfigure(ctx context.Context, s RoleSpec) error {
	if err := check(s); err != nil {
		return err
	}
	if balancers[s.Role] || reloadsBackends[s.Role] {
		return crmplan.Errorf(crmplan.ECONFLICT, "crm %s changes through its start (backends file, socket handover)", s.Role)
	}
	proc := h.process(s)
	running, err := supervise.Load(proc.SpecPath())
	pid, ok := h.webPID(s)
	switch {
	case err != nil || !ok:
		return crmplan.Errorf(crmplan.ECONFLICT, "crm %s does not run on %s: it needs a start", s.Role, filepath.Base(h.Dir))
	case !slices.Equal(running.Argv, proc.Argv) || !slices.Equal(running.Env, proc.Env):
		return crmplan.Errorf(crmplan.ECONFLICT, "crm %s on %s runs with other arguments or environment: it needs a restart", s.Role, filepath.Base(h.Dir))
	}
	want, err := filepath.EvalSymlinks(filepath.Join(h.Dir, "current", "crm"))
	if err != nil {
		return err
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != want {
		return crmplan.Errorf(crmplan.ECONFLICT, "crm %s on %s runs release %s, not the current %s: it needs a restart", s.Role, filepath.Base(h.Dir), exe, h.Current())
	}
	if pool, ok := s.Env[poolEnv]; ok && resizesPool[s.Role] {
		return h.resizePool(ctx, pid, s, pool)
	}
	return nil
}

// writePool writes role's pool size file; the process started from
// that spec reads it at start.
func (h Host) writePool(s RoleSpec) error {
	pool, ok := s.Env[poolEnv]
	if !ok || !resizesPool[s.Role] {
		return nil
	}
	if err := os.MkdirAll(h.rolesDir(), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(h.poolPath(s.Role), []byte(pool+"\n"), 0o600)
}

// crmDefaultPool is crm's pool size when none is given (its
// store.DefaultMaxConns).
const crmDefaultPool = 16

// resizePool writes the new pool size to the role's file and has the
// running process (pid) re-read it by SIGHUP, then waits until its
// metrics show the primary's pool at that size.
func (h Host) resizePool(ctx context.Context, pid int, s RoleSpec, pool string) error {
	want, err := strconv.Atoi(pool)
	if err != nil || want < 0 {
		return crmplan.Errorf(crmplan.EINVALID, "%s must be a number of connections, got %.20q", poolEnv, pool).In("role spec")
	}
	want = cmp.Or(want, crmDefaultPool)
	if err := h.writePool(s); err != nil {
		return err
	}
	if got, err := poolMax(ctx, s.Listen); err == nil && got == want {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("crm %s (pid %d): %w", s.Role, pid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		got, err := poolMax(ctx, s.Listen)
		if err == nil && got == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crm %s (pid %d) did not resize its pool to %d (has %d, %v): %w\n%s", s.Role, pid, want, got, err, ctx.Err(),
				supervise.LogTail(h.process(s).LogPath(), 2048))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// poolMaxMetric is the line of crm's metrics that gives the primary
// pool's size.
const poolMaxMetric = `crm_db_pool_connections{pool="primary",state="max"} `

// poolMax reads the size of the primary's pool from the role's metrics.
func poolMax(ctx context.Context, listen string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listen+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, poolMaxMetric); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("%s/metrics has no %s", listen, strings.TrimSpace(poolMaxMetric))
}

// balancers are the roles that balance over the api servers with a
// web.Balancer and take a new list of them without a restart, and hand
// their socket over to a new release. crm marketing balances nothing, but
// users reach it directly too: it takes a new release by handover alike.
var balancers = map[string]bool{"web": true, "integration": true, "marketing": true}

// reloadsBackends are the roles whose backends (the --backend arguments of
// their spec) go in a file they re-read on POST /reload of their admin
// socket, so that a scaled tier behind them joins or leaves without their
// restart: crm web and crm integration balance over the api servers, crm
// proxy (seed 002's access proxy) over the integrators, and crm admin
// (ARWADM) shows the integrators as the cluster's members.
var reloadsBackends = map[string]bool{"web": true, "integration": true, "proxy": true, "admin": true}

// startBalancer starts a balancing role (crm web, crm integration, crm
// proxy) or the admin console, or changes the running one in place: the
// web tier is where every client connection arrives, the ESB where every
// integration call does, and a restart would fail requests. Their backends
// (the api servers, or the integrators behind the proxy and in the
// console, which change when that tier scales) are in a file they re-read
// on POST /reload; with the rest of the spec unchanged the agent reloads
// them, adding new servers once healthy and draining removed ones. Those
// in balancers then hand their socket over to the current release if that
// is new; the proxy and the console restart for one. Any other change
// restarts it.
func (h Host) startBalancer(ctx context.Context, self string, s RoleSpec) error {
	_, backends := splitBackends(s.Args)
	if len(backends) > 0 && reloadsBackends[s.Role] {
		if err := renameio.WriteFile(h.backendsPath(s.Role), []byte(strings.Join(backends, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	proc := h.process(s)
	running, err := supervise.Load(proc.SpecPath())
	pid, ok := h.webPID(s)
	if err != nil || !ok || !slices.Equal(running.Argv, proc.Argv) || !slices.Equal(running.Env, proc.Env) {
		return h.run(ctx, self, s)
	}
	if len(backends) > 0 && reloadsBackends[s.Role] {
		if err := h.webAdmin(ctx, s.Role, "reload", "", io.Discard); err != nil {
			return err
		}
	}
	if !balancers[s.Role] {
		// It cannot take a socket over: a new release restarts it.
		if h.runsCurrent(pid) {
			return nil
		}
		return h.run(ctx, self, s)
	}
	return h.handover(ctx, pid, s)
}

// runsCurrent reports whether the process pid runs the current release's
// crm binary.
func (h Host) runsCurrent(pid int) bool {
	want, err := filepath.EvalSymlinks(filepath.Join(h.Dir, "current", "crm"))
	if err != nil {
		return false
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return exe == want
}

// backendsPath is the file of a balancing role's backends (--backends-file).
func (h Host) backendsPath(role string) string { return filepath.Join(h.rolesDir(), role+".backends") }

// splitBackends separates the --backend flags from the other arguments.
func splitBackends(args []string) (rest, backends []string) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--backend" && i+1 < len(args):
			backends = append(backends, args[i+1])
			i++
		case strings.HasPrefix(a, "--backend="):
			backends = append(backends, strings.TrimPrefix(a, "--backend="))
		default:
			rest = append(rest, a)
		}
	}
	return rest, backends
}

// webPID returns the pid of the running crm web, if it runs.
func (h Host) webPID(s RoleSpec) (int, bool) {
	proc := h.process(s)
	if _, ok := proc.Running(); !ok {
		return 0, false
	}
	st, err := proc.ReadState()
	if err != nil || st.ChildPID == 0 {
		return 0, false
	}
	return st.ChildPID, true
}

// handover restarts a running balancer (crm web, crm integration) on the
// current release without
// closing its socket: SIGHUP makes it finish its requests and exec the
// binary at its path (current/crm) in place, keeping the socket, so no
// connection is refused meanwhile. Done when that pid runs the current
// release's binary and answers /healthz.
func (h Host) handover(ctx context.Context, pid int, s RoleSpec) error {
	want, err := filepath.EvalSymlinks(filepath.Join(h.Dir, "current", "crm"))
	if err != nil {
		return err
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == want {
		return nil // runs this release already
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("crm %s (pid %d): %w", s.Role, pid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if exe == want && health.Check(ctx, "http://"+s.Listen+"/healthz") == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crm %s (pid %d) did not take over with release %s (runs %s): %w\n%s", s.Role, pid, h.Current(), exe, ctx.Err(),
				supervise.LogTail(h.process(s).LogPath(), 2048))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h Host) run(ctx context.Context, self string, s RoleSpec) error {
	proc := h.process(s)
	if _, err := proc.Start(self); err != nil {
		return err
	}
	if err := waitHealthy(ctx, proc, s.Listen, 60*time.Second); err != nil {
		return fmt.Errorf("crm %s (release %s) on %s did not become healthy: %w\n%s", s.Role, h.Current(), s.Listen, err, supervise.LogTail(proc.LogPath(), 2048))
	}
	return nil
}

// Spec returns the recorded spec of role.
func (h Host) Spec(role string) (RoleSpec, error) {
	var s RoleSpec
	data, err := os.ReadFile(h.roleSpecPath(role))
	if errors.Is(err, os.ErrNotExist) {
		return s, crmplan.Errorf(crmplan.ENOTFOUND, "role %s was never started on %s", role, filepath.Base(h.Dir)).In("--role")
	}
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(data, &s)
}

// Stop stops the role gracefully (the supervisor passes SIGTERM on and crm
// finishes its in-flight requests) and removes it from the host: its spec
// and its supervisor's files. Removing a role is its only use; a role that
// is not there is no error.
func (h Host) Stop(role string) error {
	s, err := h.Spec(role)
	if crmplan.ErrorCode(err) == crmplan.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	proc := h.process(s)
	if err := proc.Stop(); err != nil {
		return err
	}
	files := []string{h.roleSpecPath(role), proc.SpecPath(), proc.StatePath(), proc.LogPath(), proc.SupervisorLogPath()}
	if reloadsBackends[role] {
		files = append(files, h.backendsPath(role))
	}
	if resizesPool[role] {
		files = append(files, h.poolPath(role))
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Restart stops the role and starts it again from its recorded spec (and
// the current release), waiting until it is healthy.
func (h Host) Restart(ctx context.Context, self, role string) error {
	s, err := h.Spec(role)
	if err != nil {
		return err
	}
	if err := h.process(s).Stop(); err != nil {
		return err
	}
	return h.run(ctx, self, s)
}

// Health is what the health unit reports.
type Health = wire.RoleHealth

// CheckHealth asks the role's /healthz and /readyz.
func (h Host) CheckHealth(ctx context.Context, role string) (Health, error) {
	s, err := h.Spec(role)
	if err != nil {
		return Health{}, err
	}
	proc := h.process(s)
	out := Health{Role: role, Listen: s.Listen, Release: h.Current()}
	_, out.Running = proc.Running()
	if st, err := proc.ReadState(); err == nil {
		out.Restarts = st.Restarts
	}
	if err := health.Check(ctx, "http://"+s.Listen+"/healthz"); err != nil {
		out.Reason = err.Error()
		return out, nil
	}
	out.Healthy = true
	if err := health.Check(ctx, "http://"+s.Listen+"/readyz"); err != nil {
		out.Reason = err.Error()
		return out, nil
	}
	out.Ready = true
	return out, nil
}

// waitHealthy waits until the role answers /healthz, and gives up early
// when the supervisor has had to restart it twice: a release that exits at
// start fails its unit in seconds, not after the timeout.
func waitHealthy(ctx context.Context, proc supervise.Process, listen string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := health.Check(ctx, "http://"+listen+"/healthz")
		if err == nil {
			return nil
		}
		if st, serr := proc.ReadState(); serr == nil && st.Restarts >= 2 {
			return fmt.Errorf("it exited %d times (last: %s)", st.Restarts, st.LastExit)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
