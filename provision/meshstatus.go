package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/ssh"
)

// statusTimeout bounds the wait for one host's status unit (a query, about
// a second): a node that went down after the controller last heard of it
// must not hold the others' status.
const statusTimeout = 20 * time.Second

// routeWait is how long a controller that had to be started gets to learn
// its routes.
const routeWait = 10 * time.Second

// hostReport is what a host's agent said, or why it could not be asked,
// and the state of the host's node.
type hostReport struct {
	status wire.Status
	err    error
	mesh   string // "up, pid N", "DOWN: why"
}

// askHosts runs a status unit on every host the controller reaches, all
// at once, each within statusTimeout, and returns the reports by host.
func askHosts(ctx context.Context, stateDir string, inv stackdir.Inventory) (map[string]hostReport, error) {
	reports := map[string]hostReport{}
	m, err := mesh.Open(stateDir, inv.Stack, targets())
	if err != nil {
		// Deployed hosts without a mesh (a destroy interrupted after the
		// mesh went) are all down as far as anyone can tell: say so per
		// host rather than refuse the status.
		for _, h := range inv.Hosts {
			reports[h.Name] = hostReport{err: err, mesh: "DOWN: the stack has no mesh"}
		}
		return reports, nil
	}
	routed, err := m.Reach(ctx, routeWait)
	if err != nil {
		for _, h := range inv.Hosts {
			reports[h.Name] = hostReport{err: fmt.Errorf("mesh controller: %w", err), mesh: "DOWN: the controller's node does not run"}
		}
		return reports, nil
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	cancels := map[string]context.CancelCauseFunc{}
	ctxs := map[string]context.Context{}
	for _, h := range inv.Hosts {
		ctxs[h.Name], cancels[h.Name] = context.WithCancelCause(ctx)
	}
	go watchRoutes(ctx, m, cancels)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range inv.Hosts {
		wg.Go(func() {
			r := askHost(ctxs[h.Name], m, inv, h, routed[h.Name])
			mu.Lock()
			reports[h.Name] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return reports, nil
}

// errNodeLost ends the unit of a host whose node dropped out of the
// controller's routing table while it was asked: the unit would never
// finish.
var errNodeLost = errors.New("its mesh node left the mesh")

// watchRoutes cancels, with errNodeLost, the context of every host the
// controller has no route to, until ctx ends. A node that was killed a
// moment ago may still be routed when its unit is sent.
func watchRoutes(ctx context.Context, m *mesh.Mesh, cancels map[string]context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		routed, err := m.Routes(ctx)
		if err != nil {
			continue
		}
		for host, cancel := range cancels {
			if !routed[host] {
				cancel(errNodeLost)
			}
		}
	}
}

func askHost(ctx context.Context, m *mesh.Mesh, inv stackdir.Inventory, h stackdir.InventoryHost, routed bool) hostReport {
	launcher, node, err := hostNode(m, inv, h)
	if err != nil {
		return hostReport{err: err, mesh: "DOWN: " + err.Error()}
	}
	// What the host's target knows comes first: the controller may still
	// route to a node that was killed a moment ago.
	pid, running := launcher.Running(node)
	_, seen := launcher.(target.MeshSeen)
	if !running && !seen {
		return hostReport{err: errors.New("its mesh node does not run"), mesh: "DOWN: not running"}
	}
	if !routed {
		return hostReport{err: errors.New("the controller has no route to its mesh node"), mesh: "DOWN: no route"}
	}
	up := fmt.Sprintf("up, pid %d", pid)
	if seen {
		up = "up, routed through the relay"
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	out, err := m.Run(ctx, h.Name, mesh.Work{Type: wire.WorkStatus, Query: true})
	if err != nil {
		if errors.Is(err, mesh.ErrUnitFailed) {
			return hostReport{err: fmt.Errorf("agent: %w", err), mesh: up} // the node ran it
		}
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return hostReport{err: err, mesh: "DOWN: " + err.Error()}
	}
	var r hostReport
	if err := json.Unmarshal([]byte(out.Text), &r.status); err != nil {
		return hostReport{err: fmt.Errorf("agent's status: %w", err), mesh: up}
	}
	r.mesh = up
	return r
}

// hostNode is the host's Receptor node and the launcher of the target
// that made the host, which can tell whether it runs and kill it.
func hostNode(m *mesh.Mesh, inv stackdir.Inventory, h stackdir.InventoryHost) (target.NodeLauncher, target.Node, error) {
	name := inv.Target
	if name == "" {
		name = target.Default
	}
	t, ok := targets()[name]
	if name == ssh.Name {
		for _, n := range m.Nodes() {
			if n.ID == h.Name {
				return m.HostLauncher(n.ID), target.Node{ID: n.ID, Dir: n.Dir}, nil
			}
		}
	}
	if !ok {
		return nil, target.Node{}, crmplan.Errorf(crmplan.EINVALID, "target %q is not known to this crmplan", name).In("stack " + inv.Stack)
	}
	for _, n := range m.Nodes() {
		if n.ID == h.Name {
			th := target.Host{Name: h.Name, Zone: h.Zone, Address: h.Address, Dir: h.Dir}
			return t.Nodes(th), target.Node{ID: n.ID, Dir: n.Dir}, nil
		}
	}
	return nil, target.Node{}, crmplan.Errorf(crmplan.ENOTFOUND, "host %s is not in the mesh of stack %s", h.Name, inv.Stack).In("host " + h.Name)
}
