package aws

import (
	"encoding/base64"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// receptorBin is where cloud-init puts (or the AMI has) the receptor binary.
const receptorBin = "/usr/local/bin/receptor"

// unitName is the systemd unit that runs the host's Receptor node.
const unitName = "crmplan-receptor.service"

// userData is h's cloud-init: it writes the node's files as the mesh
// prepared them, installs receptor when a URL is given, and starts the node
// under systemd, which restarts it as the loopback target's launcher would.
// From then on the host is reached only through the mesh: the relay's
// address is in the node's config, and named in the unit for whoever
// reads the instance.
func userData(n Network, h Instance, o Options) (string, error) {
	files := []map[string]string{}
	node := o.Nodes[h.Name]
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
	if config == "" {
		config = "/var/lib/crmplan/mesh/receptor.yaml"
	}
	unit := strings.Join([]string{
		"[Unit]",
		fmt.Sprintf("Description=crmplan Receptor %s %s of stack %s (relay %s at %s)", role, h.Name, n.Name, n.Relay, n.RelayAddr),
		"After=network-online.target",
		"Wants=network-online.target",
		"",
		"[Service]",
		"Environment=CRMPLAN_RELAY=" + n.RelayAddr,
		fmt.Sprintf("ExecStart=%s --config %s", receptorBin, config),
		"Restart=always",
		"RestartSec=2",
		"",
		"[Install]",
		"WantedBy=multi-user.target",
		""}, "\n")
	files = append(files, map[string]string{"path": "/etc/systemd/system/" + unitName, "permissions": "0644", "owner": "root:root", "content": unit})
	var run [][]string
	if o.ReceptorURL != "" {
		run = append(run, []string{"curl", "-fsSL", "--retry", "5", "-o", receptorBin, o.ReceptorURL}, []string{"chmod", "0755", receptorBin})
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
