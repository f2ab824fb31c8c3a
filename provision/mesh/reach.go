package mesh

import (
	"context"
	"os"
	"time"
)

// Reach makes sure the controller's node runs, starting it if need be,
// and returns the hosts it has a route to. Unlike Start it starts no
// host's node and waits for none: status and chaos kills must find a host
// whose node is down down, not bring it back. A controller that Reach
// had to start learns its routes for up to wait.
func (m *Mesh) Reach(ctx context.Context, wait time.Duration) (map[string]bool, error) {
	if _, ok := m.nodeRunning(m.ctrl); ok {
		wait = 0 // it knows its routes already
	} else if err := m.startController(ctx); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		routed, err := m.Routes(ctx)
		if err != nil {
			return nil, err
		}
		if len(routed) == len(m.nodes) || time.Now().After(deadline) {
			return routed, nil
		}
		select {
		case <-ctx.Done():
			return routed, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startController starts the controller's node, writing the mesh's files
// first if they are missing.
func (m *Mesh) startController(ctx context.Context) error {
	unlock, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(m.ctrl.ConfigPath()); err != nil {
		if err := m.Prepare(); err != nil {
			return err
		}
	}
	return m.ensureRunning(ctx, m.ctrl)
}

// Routes returns the hosts the running controller has a route to now. A
// node that went down leaves the table a moment after (its relay floods
// the news when the connection drops).
func (m *Mesh) Routes(ctx context.Context) (map[string]bool, error) {
	st, err := control{path: m.ctrl.SocketPath(), node: m.ctrl.ID}.status(ctx)
	if err != nil {
		return nil, err
	}
	routed := map[string]bool{}
	for _, n := range m.nodes {
		if _, ok := st.RoutingTable[n.ID]; ok {
			routed[n.ID] = true
		}
	}
	return routed, nil
}
