package ssh

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan/provision/target"
)

// launcher starts and stops one host's Receptor node over SSH.
type launcher struct {
	t    *Target
	host target.Host
}

var (
	_ target.NodeLauncher = launcher{}
	_ target.Installer    = launcher{}
)

// runtimeFiles are the node's files that the node and its launcher write
// on the machine: never uploaded.
var runtimeFiles = map[string]bool{"receptor.pid": true, "receptor.log": true, "control.sock": true, "receptor.yaml.running": true}

// unit is the systemd unit of the host's node, on a machine that runs
// systemd.
func (l launcher) unit() string {
	clean := regexp.MustCompile(`[^A-Za-z0-9_.-]`)
	return "crmplan-" + clean.ReplaceAllString(l.t.Stack, "_") + "-" + clean.ReplaceAllString(l.host.Name, "_") + "-receptor.service"
}

// receptorPath is where the bootstrap installs receptor on the host.
func (l launcher) receptorPath() string { return filepath.Join(l.host.Dir, "bin", "receptor") }

// Install copies the receptor binary (bin/receptor) and the Target's
// Agent (target.AgentPath) under the host's install directory, each only
// when the machine does not have it with the same SHA-256 already. Once
// done for a host, the Target does not ask its machine again.
func (l launcher) Install(ctx context.Context, n target.Node) error {
	bins := []binary{{local: n.Receptor, remote: l.receptorPath()}}
	if l.t.Agent != "" {
		bins = append(bins, binary{local: l.t.Agent, remote: target.AgentPath(l.host.Dir)})
	}
	if l.t.K6 != "" && l.t.K6Hosts[l.host.Name] {
		bins = append(bins, binary{local: l.t.K6, remote: target.K6Path(l.host.Dir)})
	}
	key := l.host.Name + "\x00" + l.host.Dir
	for _, b := range bins {
		key += "\x00" + b.local
	}
	if l.t.installed(key) {
		return nil
	}
	c, err := l.t.client(ctx, l.host.Name)
	if err != nil {
		return err
	}
	bin := filepath.Dir(l.receptorPath())
	dirs := fmt.Sprintf("set -e; mkdir -p %s %s %s; chmod 0700 %s; set +e\n", quote(n.Dir), quote(n.DataDir()), quote(bin), quote(n.Dir))
	if err := l.t.install(ctx, c, dirs, bins...); err != nil {
		return fmt.Errorf("host %s: install receptor and crmplan-host: %w", l.host.Name, err)
	}
	l.t.markInstalled(key)
	return nil
}

// Start installs the binaries (Install), then in one round trip writes
// the node's files the mesh prepared on this machine (n.Local()) into
// n.Dir on the machine and starts the node: under systemd when the
// machine runs it, in a session of its own otherwise, so that it outlives
// the SSH session either way.
func (l launcher) Start(ctx context.Context, n target.Node) error {
	if err := l.Install(ctx, n); err != nil {
		return err
	}
	c, err := l.t.client(ctx, l.host.Name)
	if err != nil {
		return err
	}
	receptor := l.receptorPath()
	entries, err := os.ReadDir(n.Local())
	if err != nil {
		return fmt.Errorf("host %s: node files: %w", l.host.Name, err)
	}
	files := map[string][]byte{}
	for _, f := range entries {
		if !f.Type().IsRegular() || runtimeFiles[f.Name()] || strings.HasSuffix(f.Name(), ".crmplan-upload") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(n.Local(), f.Name()))
		if err != nil {
			return err
		}
		files[filepath.Join(n.Dir, f.Name())] = data
	}
	script := "set -e\n" + writeScript(files, 0o600) + fmt.Sprintf(`rm -f %[1]s
cp %[2]s %[2]s.running
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
  systemctl stop %[5]s 2>/dev/null || true
  systemctl reset-failed %[5]s 2>/dev/null || true
  systemd-run --quiet --unit=%[5]s --working-directory=%[6]s -p StandardOutput=append:%[3]s -p StandardError=append:%[3]s %[7]s --config %[2]s
  systemctl show -p MainPID --value %[5]s > %[4]s
else
  cd %[6]s
  setsid %[7]s --config %[2]s >>%[3]s 2>&1 </dev/null &
  echo $! > %[4]s
fi`, quote(n.SocketPath()), quote(n.ConfigPath()), quote(n.LogPath()), quote(n.PIDPath()), quote(l.unit()), quote(n.Dir), quote(receptor))
	if _, err := c.run(ctx, script); err != nil {
		return fmt.Errorf("host %s: start receptor node: %w", l.host.Name, err)
	}
	// The mesh tells a node that runs its config from one that must be
	// restarted by this copy, beside the config it wrote here.
	local := target.Node{Dir: n.Local()}
	cfg, err := os.ReadFile(local.ConfigPath())
	if err != nil {
		return err
	}
	return renameio.WriteFile(local.ConfigPath()+".running", cfg, 0o600)
}

// runningScript prints the pid of n's receptor when it is alive (no
// zombie) and runs n's config, so that a recycled pid is never taken for
// it; it prints nothing otherwise.
func runningScript(n target.Node) string {
	return fmt.Sprintf(`running() {
  pid=$(cat %[1]s 2>/dev/null) || return 1
  case "$pid" in ''|*[!0-9]*) return 1;; esac
  tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q -F -- %[2]s || return 1
  set -- $(sed 's/.*) //' /proc/$pid/stat 2>/dev/null)
  [ -n "$1" ] && [ "$1" != Z ]
}
`, quote(n.PIDPath()), quote("--config "+n.ConfigPath()+" "))
}

// Running returns the pid of n's receptor on the machine.
func (l launcher) Running(n target.Node) (int, bool) {
	out, err := l.t.run(context.Background(), l.host.Name, runningScript(n)+"running && echo $pid; true")
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	return pid, err == nil && pid > 0
}

// Stop ends n: systemctl stop under systemd, otherwise SIGTERM and
// SIGKILL after two seconds. A node that does not run is no error; an
// unreachable machine is.
func (l launcher) Stop(n target.Node) error {
	script := runningScript(n) + fmt.Sprintf(`if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl stop %[2]s 2>/dev/null || true
  systemctl reset-failed %[2]s 2>/dev/null || true
fi
if running; then
  kill -TERM $pid
  i=0; while running && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
  running && kill -KILL $pid
  i=0; while running && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if running; then echo "receptor (pid $pid) does not stop" >&2; exit 1; fi
fi
rm -f %[1]s`, quote(n.PIDPath()), quote(l.unit()))
	if _, err := l.t.run(context.Background(), l.host.Name, script); err != nil {
		return fmt.Errorf("node %s: %w", n.ID, err)
	}
	return nil
}

// Kill sends n's receptor SIGKILL and waits until it is gone; its pid file
// stays, as a power loss leaves it.
func (l launcher) Kill(n target.Node) error {
	script := runningScript(n) + `if running; then
  kill -KILL $pid
  i=0; while running && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if running; then echo "receptor (pid $pid) outlives SIGKILL" >&2; exit 1; fi
fi`
	if _, err := l.t.run(context.Background(), l.host.Name, script); err != nil {
		return fmt.Errorf("node %s: %w", n.ID, err)
	}
	return nil
}
