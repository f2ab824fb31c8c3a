package mesh

import (
	"go.yaml.in/yaml/v3"
)

// TLS configuration names inside a node's Receptor config.
const (
	tlsLink    = "link"    // node-to-node links (tcp-listener / tcp-peer)
	tlsControl = "control" // a node's control service, as reached over the mesh
	tlsWork    = "work"    // the controller's end-to-end TLS to a node's control service
)

// nodeConfig is what one node's Receptor config is made of. Peers and keys
// are filled in by the Mesh from the topology; config renders it as
// Receptor's version-1 YAML (a list of one-key maps).
type nodeConfig struct {
	Node        Node
	CA          string   // CA certificate file
	LinkPins    []string // certificate fingerprints accepted on the link: the relay pins every node, the others pin the relay
	ControlPins []string // fingerprints allowed to use this node's control service over the mesh: the controller's
	AllowedIDs  []string // node IDs allowed on this node's links
	RelayAddr   string   // host:port this node dials; "" for the relay itself
	VerifyKey   string   // work-verification public key (agents)
	SigningKey  string   // work-signing private key (controller)
	Work        []WorkType
	LogLevel    string
}

type entry map[string]any

// render returns the node's Receptor config file.
func (c nodeConfig) render() ([]byte, error) {
	n := c.Node
	level := c.LogLevel
	if level == "" {
		level = "info"
	}
	cfg := []entry{
		{"node": entry{"id": n.ID, "datadir": n.DataDir()}},
		{"log-level": entry{"level": level}},
		{"tls-server": entry{
			"name": tlsControl, "cert": n.CertPath(), "key": n.KeyPath(),
			"requireclientcert": true, "clientcas": c.CA, "pinnedclientcert": c.ControlPins,
		}},
		{"control-service": entry{"service": "control", "filename": n.SocketPath(), "tls": tlsControl}},
	}
	if c.RelayAddr == "" {
		cfg = append(cfg,
			entry{"tls-server": entry{
				"name": tlsLink, "cert": n.CertPath(), "key": n.KeyPath(),
				"requireclientcert": true, "clientcas": c.CA, "pinnedclientcert": c.LinkPins,
			}},
			entry{"tcp-listener": entry{"bindaddr": n.Address, "port": n.Port, "tls": tlsLink, "allowedpeers": c.AllowedIDs}},
		)
	} else {
		cfg = append(cfg,
			entry{"tls-client": entry{
				"name": tlsLink, "cert": n.CertPath(), "key": n.KeyPath(), "rootcas": c.CA, "pinnedservercert": c.LinkPins,
			}},
			entry{"tcp-peer": entry{"address": c.RelayAddr, "tls": tlsLink, "redial": true, "allowedpeers": c.AllowedIDs}},
		)
	}
	if c.SigningKey != "" {
		cfg = append(cfg,
			// Receptor dereferences a nil expiration when tokenexpiration is
			// empty; signatures are made per submission, so minutes suffice.
			entry{"work-signing": entry{"privatekey": c.SigningKey, "tokenexpiration": "10m"}},
			entry{"tls-client": entry{"name": tlsWork, "cert": n.CertPath(), "key": n.KeyPath(), "rootcas": c.CA}},
		)
	}
	if c.VerifyKey != "" {
		cfg = append(cfg, entry{"work-verification": entry{"publickey": c.VerifyKey}})
	}
	for _, w := range c.Work {
		cfg = append(cfg, entry{"work-command": entry{
			"worktype": w.Name, "command": w.Command, "params": w.Params,
			"allowruntimeparams": true, "verifysignature": c.VerifyKey != "",
		}})
	}
	return yaml.Marshal(cfg)
}
