package aws

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan/provision/target"
)

// unitName is the systemd unit that runs the host's Receptor node.
const unitName = "crmplan-receptor.service"

// UserData is host h's cloud-init, with node's files: it writes the
// node's files as the mesh prepared them, opens the host's directory to
// the roles' users (PostgreSQL's must pass through it) and links the AMI's
// crmplan-host where the node's work types run the agent (target.AgentPath of
// node.Dir), installs receptor when a URL is given, and starts
// the node under systemd, which restarts it as the loopback target's
// launcher would. From then on the host is reached only through the mesh:
// the relay's address is in the node's config, and named in the unit for
// whoever reads the instance.
func UserData(n Network, h Instance, o Options, node NodeFiles) (string, error) {
	o = o.withDefaults()
	files := []map[string]string{}
	for _, f := range node.Files {
		mode := f.Mode
		if mode == "" {
			mode = "0600"
		}
		files = append(files, map[string]string{"path": f.Path, "permissions": mode, "owner": "root:root",
			"encoding": "b64", "content": base64.StdEncoding.EncodeToString(f.Content)})
	}
	role := "node"
	if h.Name == n.Relay {
		role = "relay"
	}
	config := node.Config
	if config == "" && node.Dir != "" {
		config = target.Node{Dir: target.NodeDir(node.Dir)}.ConfigPath()
	}
	unit := strings.Join([]string{
		"[Unit]",
		fmt.Sprintf("Description=crmplan Receptor %s %s of stack %s (relay %s at %s)", role, h.Name, n.Name, n.Relay, n.RelayAddr),
		"After=network-online.target",
		"Wants=network-online.target",
		"",
		"[Service]",
		"Environment=CRMPLAN_RELAY=" + n.RelayAddr,
		fmt.Sprintf("ExecStart=%s --config %s", o.ReceptorBin, config),
		"Restart=always",
		"RestartSec=2",
		"",
		"[Install]",
		"WantedBy=multi-user.target",
		""}, "\n")
	files = append(files, map[string]string{"path": "/etc/systemd/system/" + unitName, "permissions": "0644", "owner": "root:root", "content": unit})
	var run [][]string
	if node.Dir != "" {
		agent := target.AgentPath(node.Dir)
		run = append(run,
			// The roles' users (postgres) pass through the host's
			// directory, whatever umask write_files made it with.
			[]string{"chmod", "0755", node.Dir},
			[]string{"mkdir", "-p", filepath.Dir(agent)},
			[]string{"ln", "-sfn", o.AgentBin, agent})
	}
	if o.ReceptorURL != "" {
		run = append(run, []string{"curl", "-fsSL", "--retry", "5", "-o", o.ReceptorBin, o.ReceptorURL}, []string{"chmod", "0755", o.ReceptorBin})
	}
	run = append(run, []string{"systemctl", "daemon-reload"}, []string{"systemctl", "enable", "--now", unitName})
	doc := map[string]any{"write_files": files, "runcmd": run}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	head := fmt.Sprintf("#cloud-config\n# crmplan %s: host %s (%s), mesh %s %s -> relay %s\n", n.Name, h.Name, h.Role, role, h.Name, n.RelayAddr)
	return head + string(body), nil
}
