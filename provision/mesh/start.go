package mesh

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/provision/target"
)

// Secret and public files of the stack's mesh directory.
func (m *Mesh) caDir() string          { return m.dir }
func (m *Mesh) caPath() string         { return filepath.Join(m.dir, "ca.crt") }
func (m *Mesh) signingKeyPath() string { return filepath.Join(m.dir, "work.key") }
func (m *Mesh) verifyKeyPath() string  { return filepath.Join(m.dir, "work.pub") }

// Start writes the CA, keys, certificates and configs, starts every node
// that is not already running with the same config (the relay first, the
// controller last) and waits until the controller reaches every host
// through the relay. It is idempotent: a second Start restarts nothing.
//
// Starts exclude each other, across processes too (the provider serves
// many resources at once, and crmplan status may run beside an apply):
// two of them could otherwise both find a node down and start it twice.
func (m *Mesh) Start(ctx context.Context) error {
	unlock, err := m.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.Prepare(); err != nil {
		return err
	}
	if m.answers(ctx) {
		return nil
	}
	start := m.toStart()
	if err := m.install(ctx, start); err != nil {
		return err
	}
	if m.opts.Remote {
		// Each start is a round trip to another machine, and a node dials
		// the relay until it answers: all at once.
		if err := m.each(start, func(n Node) error { return m.ensureRunning(ctx, n) }); err != nil {
			return err
		}
		start = nil
	}
	for _, n := range append(start, m.ctrl) {
		if err := m.ensureRunning(ctx, n); err != nil {
			return err
		}
	}
	return m.waitFormed(ctx, 60*time.Second)
}

// pingWait bounds answers' pings: a node that does not answer within it
// is asked through its target instead.
const pingWait = 3 * time.Second

// answers says whether a Remote mesh is up as Start would leave it,
// asking only through the mesh: the controller runs its config, every
// host's node was started by this machine with the config now prepared
// for it, and answers the controller's ping. Then Start needs no SSH at
// all (a round trip through the relay costs milliseconds, a login to
// every machine, LAN ones through the DMZ, seconds). A node restarted on
// its machine with another config behind crmplan's back is not noticed
// here, as a local node's would be; Drift and refresh notice a node that
// does not run.
func (m *Mesh) answers(ctx context.Context) bool {
	if !m.opts.Remote {
		return false
	}
	if _, ok := m.nodeRunning(m.ctrl); !ok {
		return false
	}
	for _, n := range append(m.Nodes(), m.ctrl) {
		if same, _ := sameConfig(n); !same {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	ok := make([]bool, len(m.nodes))
	var wg sync.WaitGroup
	for i, n := range m.nodes {
		wg.Go(func() {
			_, err := m.Ping(ctx, n.ID)
			ok[i] = err == nil
		})
	}
	wg.Wait()
	return !slices.Contains(ok, false)
}

// install has every host's launcher that copies binaries to its host
// (target.Installer) do so, all at once: a bootstrap over SSH spends most
// of its time there.
func (m *Mesh) install(ctx context.Context, nodes []Node) error {
	return m.each(nodes, func(n Node) error {
		if in, ok := m.launcher(n).(target.Installer); ok {
			return in.Install(ctx, m.targetNode(n))
		}
		return nil
	})
}

// each runs f for every node at once and joins their errors.
func (m *Mesh) each(nodes []Node, f func(Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = f(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// toStart are the hosts' nodes that do not run their config, in the
// mesh's order (the relay first). They are asked all at once: on the ssh
// target each question is a round trip to a machine.
func (m *Mesh) toStart() []Node {
	down := make([]bool, len(m.nodes))
	var wg sync.WaitGroup
	for i, n := range m.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok := m.nodeRunning(n)
			same, _ := sameConfig(n)
			down[i] = !ok || !same
		}()
	}
	wg.Wait()
	var out []Node
	for i, n := range m.nodes {
		if down[i] {
			out = append(out, n)
		}
	}
	return out
}

// lock takes the mesh directory's start lock (flock), waiting while
// another Start holds it; the kernel drops it should the holder die.
func (m *Mesh) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(m.dir, "start.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Prepare writes the stack's CA and work-signing key (once), every node's
// certificate (again when it is missing, not from this CA, or names another
// node or address) and every node's config. It starts nothing.
func (m *Mesh) Prepare() error {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(m.dir, 0o700); err != nil {
		return err
	}
	ca, err := LoadOrCreateCA(m.caDir(), m.stack)
	if err != nil {
		return fmt.Errorf("mesh CA of stack %s: %w", m.stack, err)
	}
	if _, err := os.Stat(m.signingKeyPath()); errors.Is(err, os.ErrNotExist) {
		if err := newSigningKey(m.signingKeyPath(), m.verifyKeyPath()); err != nil {
			return err
		}
	}
	all := append(m.Nodes(), m.ctrl)
	fps := map[string]string{}
	for _, n := range all {
		cert, err := m.ensureCert(ca, n)
		if err != nil {
			return err
		}
		fps[n.ID] = Fingerprint(cert)
	}
	if m.opts.Remote {
		if err := m.copyShared(); err != nil {
			return err
		}
	}
	for _, n := range all {
		data, err := m.config(n, fps).render()
		if err != nil {
			return err
		}
		if err := renameio.WriteFile(n.local().ConfigPath(), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// copyShared puts the stack's CA certificate and work-verification key
// beside every host node's files, for a Remote mesh's bootstrap to copy
// to the host with the rest of them.
func (m *Mesh) copyShared() error {
	for _, n := range m.nodes {
		dir := n.local().Dir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		for src, name := range map[string]string{m.caPath(): "ca.crt", m.verifyKeyPath(): "work.pub"} {
			data, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			if err := renameio.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// config assembles a node's config from its place in the mesh.
func (m *Mesh) config(n Node, fps map[string]string) nodeConfig {
	c := nodeConfig{Node: n, CA: m.caPath(), ControlPins: []string{fps[ControllerID]}, LogLevel: m.opts.LogLevel}
	if m.opts.Remote && n.ID != ControllerID {
		c.CA = filepath.Join(n.Dir, "ca.crt")
	}
	relay := m.Relay()
	if n.Relay {
		for _, id := range sortedKeys(fps) {
			c.LinkPins = append(c.LinkPins, fps[id])
			c.AllowedIDs = append(c.AllowedIDs, id)
		}
	} else {
		c.RelayAddr, c.LinkPins, c.AllowedIDs = m.RelayAddr(), []string{fps[relay.ID]}, []string{relay.ID}
		if n.ID == ControllerID {
			c.RelayAddr = m.ControllerRelayAddr()
		}
	}
	if n.ID == ControllerID {
		c.SigningKey = m.signingKeyPath()
	} else {
		c.VerifyKey = m.verifyKeyPath()
		if m.opts.Remote {
			c.VerifyKey = filepath.Join(n.Dir, "work.pub")
		}
		c.Work = m.opts.WorkTypes(n.Host, filepath.Dir(n.Dir))
	}
	return c
}

// ensureCert returns the node's certificate, issuing a new one unless the
// one on disk is from this stack's CA, names exactly this node ID and, for
// the relay, the address it listens on.
func (m *Mesh) ensureCert(ca *CA, n Node) (*x509.Certificate, error) {
	n = n.local()
	var ips []net.IP
	if n.Relay {
		ips = []net.IP{net.ParseIP(n.Address)}
		if m.opts.RelayPublic != "" && m.opts.RelayPublic != n.Address {
			ips = append(ips, net.ParseIP(m.opts.RelayPublic))
		}
	}
	if cert, err := readCert(n.CertPath()); err == nil && CheckNodeCert(ca.Cert, cert, n.ID) == nil && hasIPs(cert, ips) {
		if _, err := os.Stat(n.KeyPath()); err == nil {
			return cert, nil
		}
	}
	der, key, err := ca.Issue(n.ID, ips)
	if err != nil {
		return nil, fmt.Errorf("certificate of node %s: %w", n.ID, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	// A host directory removed behind crmplan's back is made again here
	// (a refresh's reads start the mesh before the host is re-created): as
	// the loopback target makes it, 0755, so that PostgreSQL, running as
	// its own user, can pass through; only the node's own files are 0700.
	if err := os.MkdirAll(filepath.Dir(n.Dir), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := writePEM(n.KeyPath(), "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return nil, err
	}
	if err := writePEM(n.CertPath(), "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func hasIPs(cert *x509.Certificate, ips []net.IP) bool {
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// ensureRunning starts n unless it already runs with the config on disk.
func (m *Mesh) ensureRunning(ctx context.Context, n Node) error {
	if _, ok := m.nodeRunning(n); ok {
		if same, _ := sameConfig(n); same {
			return nil
		}
		if err := m.stopNode(n); err != nil {
			return err
		}
	}
	if err := m.startNode(n); err != nil {
		return err
	}
	if m.opts.Remote && n.ID != ControllerID {
		// Its control socket is on its machine: waitFormed sees it through
		// the relay.
		return nil
	}
	return m.waitControl(ctx, n, 15*time.Second)
}

// waitControl waits until the node answers on its control socket.
func (m *Mesh) waitControl(ctx context.Context, n Node, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := control{path: n.SocketPath(), node: n.ID}
	for {
		st, err := c.status(ctx)
		if err == nil && st.NodeID == n.ID {
			return nil
		}
		if _, ok := m.nodeRunning(n); !ok {
			return crmplan.Errorf(crmplan.EUNAVAILABLE, "receptor node %s exited: %s", n.ID, supervise.LogTail(n.LogPath(), 1500)).In("node " + n.ID)
		}
		select {
		case <-ctx.Done():
			return crmplan.Errorf(crmplan.EUNAVAILABLE, "receptor node %s does not answer on %s: %v\n%s", n.ID, n.SocketPath(), err,
				supervise.LogTail(n.LogPath(), 1500)).In("node " + n.ID)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitFormed waits until the controller has a route to every host, and
// checks that the relay knows no node the stack did not issue a
// certificate for.
func (m *Mesh) waitFormed(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctrl := control{path: m.ctrl.SocketPath(), node: m.ctrl.ID}
	var missing []string
	for {
		st, err := ctrl.status(ctx)
		if err == nil {
			missing = missing[:0]
			for _, n := range m.nodes {
				if _, ok := st.RoutingTable[n.ID]; !ok {
					missing = append(missing, n.ID)
				}
			}
			if len(missing) == 0 {
				return m.checkKnown(ctx)
			}
		}
		select {
		case <-ctx.Done():
			return crmplan.Errorf(crmplan.EUNAVAILABLE, "the controller does not reach %v through relay %s (%s): %v",
				missing, m.Relay().ID, m.ControllerRelayAddr(), err).In("mesh "+m.stack).
				Try("tail %s", m.Relay().LogPath())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkKnown fails when the relay routes to a node that is not one of the
// stack's: link TLS already refuses certificates of other CAs, so this
// catches a misissued certificate.
func (m *Mesh) checkKnown(ctx context.Context) error {
	relay := m.Relay()
	var st status
	var err error
	if m.opts.Remote {
		// The relay's control socket is on its machine.
		st, err = control{path: m.ctrl.SocketPath(), node: m.ctrl.ID}.statusOf(ctx, relay.ID)
	} else {
		st, err = control{path: relay.SocketPath(), node: relay.ID}.status(ctx)
	}
	if err != nil {
		return err
	}
	want := map[string]bool{ControllerID: true}
	for _, n := range m.nodes {
		want[n.ID] = true
	}
	var unknown []string
	for id := range st.RoutingTable {
		if !want[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return crmplan.Errorf(crmplan.ECONFLICT, "the relay routes to nodes that are not in stack %s: %v", m.stack, unknown).In("mesh " + m.stack)
	}
	return nil
}

// sameConfig reports whether the running node was started with the config
// now on disk (the copy taken at start is beside it).
func sameConfig(n Node) (bool, error) {
	n = n.local()
	now, err := os.ReadFile(n.ConfigPath())
	if err != nil {
		return false, err
	}
	then, err := os.ReadFile(n.ConfigPath() + ".running")
	if err != nil {
		return false, err
	}
	return bytes.Equal(now, then), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
