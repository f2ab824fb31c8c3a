package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// projectName is the Pulumi project every crmplan stack belongs to.
const projectName = "crmplan"

// Binaries are the programs a deployment runs. Empty fields are found next
// to the running crmplan binary, then on $PATH.
type Binaries struct {
	Self   string // the crmplan binary: the Pulumi provider plugin
	Pulumi string // the Pulumi CLI (flag --pulumi, env CRMPLAN_PULUMI)
	Crm    string // the CRM server (flag --crm, env CRMPLAN_CRM)
	// Receptor is the mesh node binary (flag --receptor, env CRMPLAN_RECEPTOR).
	Receptor string
	// Host is crmplan-host, what runs on the hosts: the agent their mesh
	// nodes start for each unit of work, the supervisors, the watchdog
	// (flag --host-bin, env CRMPLAN_HOST_BIN).
	Host string
}

// resolve fills in missing paths and checks that each exists; the crm
// binary only when the deployment runs it.
func (b Binaries) resolve(needCrm bool) (Binaries, error) {
	if b.Self == "" {
		self, err := selfPath()
		if err != nil {
			return b, err
		}
		b.Self = self
	}
	var err error
	if needCrm {
		if b.Crm, err = findSibling(b.Self, b.Crm, "crm", "--crm", "CRMPLAN_CRM"); err != nil {
			return b, err
		}
	}
	b.Pulumi, err = findSibling(b.Self, b.Pulumi, "pulumi", "--pulumi", "CRMPLAN_PULUMI")
	return b, err
}

// findSibling looks for name next to self, then on $PATH.
func findSibling(self, given, name, flag, env string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", crmplan.Errorf(crmplan.EUNAVAILABLE, "%s: %w", given, err).In(flag).Try("make build")
		}
		return filepath.Abs(given)
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		candidate := filepath.Join(filepath.Dir(real), name)
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	if path, err := exec.LookPath(name); err == nil {
		return filepath.Abs(path)
	}
	return "", crmplan.Errorf(crmplan.EUNAVAILABLE, "no %s binary next to %s or on $PATH", name, self).
		In(flag).Try("make build   # or pass %s PATH (env %s)", flag, env)
}

// stack is an opened Pulumi stack with the paths it lives in.
type stack struct {
	auto.Stack
	paths stackdir.Paths
}

// openStack prepares the state dir and selects (or creates) the stack with
// an inline program, a file backend, passphrase secrets and the crmplan
// binary as its provider plugin. Nothing is downloaded.
//
// plugins are further provider plugins already on disk (the aws target's,
// which the user installed): they are named with their path, so that the
// engine still downloads nothing.
func openStack(ctx context.Context, paths stackdir.Paths, bins Binaries, program pulumi.RunFunc, plugins ...workspace.PluginOptions) (*stack, error) {
	for _, dir := range []string{paths.StateDir, paths.Bin(), paths.Home(), paths.Backend(), paths.Workspace()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "state dir: %w", err).In("--state-dir")
		}
	}
	// Hosts hold PostgreSQL data dirs, which the postgres user must reach:
	// it may pass through (x), not list (r).
	for _, dir := range []string{paths.StateDir, paths.StackDir(), paths.HostsDir()} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
		_ = os.Chmod(dir, 0o711)
	}
	if err := symlink(bins.Self, filepath.Join(paths.Bin(), PluginBinary)); err != nil {
		return nil, err
	}
	if err := symlink(bins.Pulumi, filepath.Join(paths.Bin(), "pulumi")); err != nil {
		return nil, err
	}
	pass, err := passphrase(paths.Passphrase())
	if err != nil {
		return nil, err
	}
	if err := clearStaleLocks(paths); err != nil {
		return nil, err
	}
	if err := removeSidecars(paths); err != nil {
		return nil, err
	}
	env := map[string]string{
		"PULUMI_HOME":              paths.Home(),
		"PULUMI_CONFIG_PASSPHRASE": pass,
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		// The one provider is the crmplan binary itself: never fetch plugins.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_DIY_BACKEND_NO_LEGACY_WARNING":        "true",
		"PULUMI_SUPPRESS_NEO_LINK":                    "true",
	}
	cli, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: paths.StateDir})
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "pulumi CLI %s: %w", bins.Pulumi, err).
			In("--pulumi").Try("make bin/pulumi")
	}
	proj := workspace.Project{
		Name:    tokens.PackageName(projectName),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		// metadata=skip: gocloud's file blobs write a sidecar (.attrs)
		// beside every checkpoint, truncating it first and not by rename,
		// so a crmplan killed at that moment left an empty one that every
		// later read of the stack failed on ("failed to load checkpoint:
		// EOF"). The checkpoint itself is written by rename.
		Backend: &workspace.ProjectBackend{URL: "file://" + paths.Backend() + "?metadata=skip"},
		Plugins: &workspace.Plugins{Providers: append([]workspace.PluginOptions{{Name: PluginName, Path: paths.Bin()}}, plugins...)},
	}
	s, err := auto.UpsertStackInlineSource(ctx, paths.Stack, projectName, program,
		auto.Project(proj), auto.WorkDir(paths.Workspace()), auto.PulumiHome(paths.Home()),
		auto.Pulumi(cli), auto.SecretsProvider("passphrase"), auto.EnvVars(env))
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "open stack %s: %w", paths.Stack, err)
	}
	return &stack{Stack: s, paths: paths}, nil
}

// checkReachable fails when crmplan runs as root (so PostgreSQL runs as the
// postgres user) and a parent of the state dir does not let others pass,
// as /root does not.
func checkReachable(stateDir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	for dir := filepath.Dir(stateDir); ; dir = filepath.Dir(dir) {
		if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o001 == 0 {
			return crmplan.Errorf(crmplan.EINVALID,
				"PostgreSQL runs as the postgres user when crmplan runs as root, and that user cannot pass through %s (mode %v)",
				dir, st.Mode().Perm()).In("--state-dir").
				Try("crmplan apply --state-dir /var/lib/crmplan ...   # or chmod o+x %s", dir)
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// symlink points link at target, replacing an older link atomically.
func symlink(target, link string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	tmp := fmt.Sprintf("%s.%d.tmp", link, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return os.Rename(tmp, link)
}

// passphrase reads the stack's secrets passphrase, creating it on first use.
// It encrypts the stack's secrets in the file backend; it lives beside it
// with mode 0600, as the local target's trust boundary is this machine's
// file permissions.
func passphrase(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	pass := randomToken(32)
	if err := os.WriteFile(path, []byte(pass+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("state dir: %w", err)
	}
	return pass, nil
}

// clearStaleLocks removes the file backend's lock on this stack when the
// pulumi process holding it is dead (crmplan or pulumi killed with -9).
// A live holder is waited for, briefly: a killed crmplan's pulumi child
// notices its program is gone and gives up on its own.
func clearStaleLocks(paths stackdir.Paths) error {
	locks, _ := filepath.Glob(filepath.Join(paths.Backend(), ".pulumi", "locks", "*", projectName, paths.Stack, "*.json"))
	host, _ := os.Hostname()
	for _, lock := range locks {
		var content struct {
			Pid      int    `json:"pid"`
			Hostname string `json:"hostname"`
		}
		b, err := os.ReadFile(lock)
		if err != nil || json.Unmarshal(b, &content) != nil || content.Hostname != host {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for pidAlive(content.Pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if pidAlive(content.Pid) {
			return crmplan.Errorf(crmplan.ECONFLICT, "stack %s is locked by a running pulumi (pid %d)", paths.Stack, content.Pid).
				Try("wait for it to finish, or kill %d, then run the command again", content.Pid)
		}
		_ = os.Remove(lock)
	}
	return nil
}

// removeSidecars removes the .attrs files that earlier crmplan versions'
// file backend wrote beside the stack's checkpoints and backups: nothing
// reads what they hold (a content type and a digest), and one left empty
// by a kill makes the stack unreadable.
func removeSidecars(paths stackdir.Paths) error {
	dir := filepath.Join(paths.Backend(), ".pulumi")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".attrs") {
			return err
		}
		return os.Remove(path)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "state dir: %w", err).In("--state-dir")
	}
	return nil
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return pid > 0 && (err == nil || errors.Is(err, syscall.EPERM))
}
