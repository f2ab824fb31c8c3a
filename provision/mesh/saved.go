package mesh

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// saved is what Open needs to rebuild a Mesh that Save wrote: the local
// target's resources each act on one host, and find the mesh they send
// work through here rather than carrying the whole topology as inputs.
type saved struct {
	Stack    string            `json:"stack"`
	Topology topology.Topology `json:"topology"`
	Port     int               `json:"port"`
	Receptor string            `json:"receptor"`
	AgentBin string            `json:"agent_bin"`
	HostDirs map[string]string `json:"host_dirs"`
	Remote   bool              `json:"remote,omitempty"`
	Target   string            `json:"target,omitempty"`
	// RelayPublic is the address the controller dials the relay on.
	RelayPublic string `json:"relay_public,omitempty"`
}

func savedPath(stateDir, stack string) string {
	return filepath.Join(stackdir.Paths{StateDir: stateDir, Stack: stack}.MeshDir(), "mesh.json")
}

// Save records the mesh's layout for Open. Meshes with custom HostDir or
// WorkTypes functions are saved with the host directories they gave and
// reopened with the agent's work types.
func (m *Mesh) Save(stateDir string) error {
	s := saved{Stack: m.stack, Topology: m.topo, Port: m.opts.Port, Receptor: m.receptor, AgentBin: m.opts.AgentBin, HostDirs: map[string]string{},
		Remote: m.opts.Remote, Target: m.opts.Target, RelayPublic: m.opts.RelayPublic}
	for _, n := range m.nodes {
		s.HostDirs[n.ID] = filepath.Dir(n.Dir)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(savedPath(stateDir, m.stack), data, 0o600)
}

// Open returns the mesh of stack as Save recorded it. Its hosts' nodes
// start as the recorded target of targets starts them (as processes of
// this machine when it is not among them).
func Open(stateDir, stack string, targets target.Set) (*Mesh, error) {
	data, err := os.ReadFile(savedPath(stateDir, stack))
	if errors.Is(err, os.ErrNotExist) {
		return nil, crmplan.Errorf(crmplan.ENOTFOUND, "stack %s has no mesh yet", stack).In("--state-dir").Try("crmplan apply")
	}
	if err != nil {
		return nil, err
	}
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	dirs := s.HostDirs
	hostDir := func(host string) string {
		if d, ok := dirs[host]; ok {
			return d
		}
		return stackdir.Paths{StateDir: stateDir, Stack: stack}.HostDir(host)
	}
	opts := Options{Port: s.Port, Receptor: s.Receptor, AgentBin: s.AgentBin, HostDir: hostDir, Remote: s.Remote, Target: s.Target,
		RelayPublic: s.RelayPublic}
	if s.Target == ssh.Name {
		t, err := SSHTarget(stackdir.Paths{StateDir: stateDir, Stack: stack}, s.AgentBin)
		if err != nil {
			return nil, err
		}
		opts.Launcher = func(host string) target.NodeLauncher {
			return t.Nodes(target.Host{Name: host, Dir: hostDir(host)})
		}
	} else if t, ok := targets[s.Target]; ok {
		hosts := map[string]target.Host{}
		for _, h := range s.Topology.Hosts {
			hosts[h.Name] = target.Host{Name: h.Name, Zone: h.Zone, Address: h.Address, Dir: hostDir(h.Name)}
		}
		opts.Launcher = func(host string) target.NodeLauncher { return t.Nodes(hosts[host]) }
	}
	return New(stateDir, stack, s.Topology, opts)
}

// SSHTarget is the ssh target of the stack in paths, from the inventory
// apply saved there (stackdir.Paths.Machines); its bootstrap installs
// agent on the machines.
func SSHTarget(paths stackdir.Paths, agent string) (*ssh.Target, error) {
	inv, ok, err := ssh.LoadSaved(paths.Machines())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "stack %s on the ssh target has no inventory in %s", paths.Stack, paths.Machines()).
			Try("crmplan apply --target ssh --inventory machines.yaml --plan PLAN.yaml")
	}
	t := ssh.New(inv, paths.Stack)
	t.Agent = agent
	return t, nil
}

// NodeState is whether a node's receptor process runs.
type NodeState struct {
	ID      string `json:"id"`
	Relay   bool   `json:"relay,omitempty"`
	Running bool   `json:"running"`
	PID     int    `json:"pid,omitempty"`
}

// States reports every node's process, the controller last. The nodes
// of a Remote mesh's hosts are asked on their machines, by their target.
func (m *Mesh) States() []NodeState {
	var out []NodeState
	for _, n := range append(m.Nodes(), m.ctrl) {
		pid, ok := nodeRunning(n)
		if m.opts.Remote && n.ID != ControllerID {
			pid, ok = m.nodeRunning(n)
		}
		out = append(out, NodeState{ID: n.ID, Relay: n.Relay, Running: ok, PID: pid})
	}
	return out
}

// StopHostNode stops the mesh node of the host whose files are in hostDir,
// if one runs: a host that is deleted must not leave its node behind.
func StopHostNode(hostDir string) error {
	return stopNode(Node{ID: filepath.Base(hostDir), Dir: stackdir.HostMeshDir(hostDir)})
}
