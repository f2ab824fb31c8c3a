package mesh

import (
	"context"
	"errors"

	"github.com/crmplan/crmplan/provision/target"
)

// launcher is how n is started and stopped: the controller's node runs on
// this machine; a host's node through the host's target (the bootstrap),
// by default as a process of this machine too.
func (m *Mesh) launcher(n Node) target.NodeLauncher {
	if n.ID != ControllerID && m.opts.Launcher != nil {
		return m.opts.Launcher(n.ID)
	}
	return target.Processes{}
}

// HostLauncher is how the node of host id is started and stopped, as the
// mesh does it.
func (m *Mesh) HostLauncher(id string) target.NodeLauncher { return m.launcher(Node{ID: id}) }

func (m *Mesh) targetNode(n Node) target.Node {
	return target.Node{ID: n.ID, Dir: n.Dir, Files: n.Files, Receptor: m.receptor}
}

// startNode launches n's receptor from the config in its directory.
func (m *Mesh) startNode(n Node) error {
	return m.launcher(n).Start(context.Background(), m.targetNode(n))
}

// nodeRunning returns the pid of n's receptor process when it runs n's config.
func (m *Mesh) nodeRunning(n Node) (int, bool) { return m.launcher(n).Running(m.targetNode(n)) }

// stopNode stops n if it runs; a node that does not run is not an error.
func (m *Mesh) stopNode(n Node) error { return m.launcher(n).Stop(m.targetNode(n)) }

// nodeRunning and stopNode without a Mesh are for a node of a host of this
// machine, found by its directory alone (States, destroy of a mesh whose
// saved layout is gone).
func nodeRunning(n Node) (int, bool) {
	return target.Processes{}.Running(target.Node{ID: n.ID, Dir: n.Dir})
}
func stopNode(n Node) error { return target.Processes{}.Stop(target.Node{ID: n.ID, Dir: n.Dir}) }

// Close stops the controller's node only: the hosts' agents keep running,
// as hosts do between applies.
func (m *Mesh) Close() error { return m.stopNode(m.ctrl) }

// Stop stops every node of the mesh, the controller first.
func (m *Mesh) Stop() error {
	var errs []error
	for _, n := range append([]Node{m.ctrl}, m.nodes...) {
		errs = append(errs, m.stopNode(n))
	}
	return errors.Join(errs...)
}
