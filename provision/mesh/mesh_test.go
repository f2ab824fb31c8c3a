package mesh

import (
	"context"
	crand "crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/topology"
)

// receptorBin is the binary `make bin/receptor` builds; tests that run real
// nodes skip without it.
func receptorBin(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../bin/receptor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no receptor binary at %s: run make bin/receptor", p)
	}
	return p
}

// testTopology is a DMZ with one web host and a LAN with two api hosts, on
// loopback ranges of their own so that parallel tests do not collide.
func testTopology() topology.Topology {
	b := 100 + rand.IntN(150)
	dmz, lan := fmt.Sprintf("127.%d.1.", b), fmt.Sprintf("127.%d.2.", b)
	return topology.Topology{
		Zones: []topology.Zone{
			{Name: "dmz", Kind: topology.DMZ, CIDR: dmz + "0/24"},
			{Name: "lan", Kind: topology.LAN, CIDR: lan + "0/24"},
		},
		Hosts: []topology.Host{
			{Name: "api-1", Role: topology.RoleAPI, Zone: "lan", Address: lan + "10", Port: 8081},
			{Name: "api-2", Role: topology.RoleAPI, Zone: "lan", Address: lan + "11", Port: 8081},
			{Name: "web-1", Role: topology.RoleWeb, Zone: "dmz", Address: dmz + "10", Port: 8080},
		},
	}
}

// shellWork are work types made of /bin/sh: the mesh under test is real,
// only the work is simple. $0 is the host's directory.
func shellWork(_ topology.Host, hostDir string) []WorkType {
	return []WorkType{
		{Name: "echo", Command: "/bin/sh", Params: `-c 'echo "$(cat) from $(basename "$0") $*"' '` + hostDir + `'`},
		{Name: "fail", Command: "/bin/sh", Params: `-c 'echo "disk full on $(basename "$0")" >&2; exit 3' '` + hostDir + `'`},
		// slow writes a line, waits for $1 seconds, writes another.
		{Name: "slow", Command: "/bin/sh", Params: `-c 'echo "first from $(basename "$0")"; sleep "$1"; echo "last from $(basename "$0")"' '` + hostDir + `'`},
	}
}

// freePort returns a port free on addr right now.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMesh starts a real mesh of the test topology and stops it at the
// end of the test.
func startMesh(t *testing.T, topo topology.Topology) *Mesh {
	t.Helper()
	if testing.Short() {
		t.Skip("starts receptor processes")
	}
	bin := receptorBin(t)
	relayAddr := topo.Hosts[2].Address
	m, err := New(t.TempDir(), "test", topo, Options{Receptor: bin, Port: freePort(t, relayAddr), WorkTypes: shellWork})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMeshShape(t *testing.T) {
	m := startMesh(t, testTopology())
	if got := m.Relay().ID; got != "web-1" {
		t.Fatalf("relay = %s, want the DMZ host web-1", got)
	}
	ctx := context.Background()
	st, err := control{path: m.Controller().SocketPath(), node: ControllerID}.status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The controller peers with the relay only and reaches the LAN through it.
	if len(st.Connections) != 1 || st.Connections[0].NodeID != "web-1" {
		t.Errorf("controller connections = %+v, want only web-1", st.Connections)
	}
	for _, host := range []string{"api-1", "api-2"} {
		if hop := st.RoutingTable[host]; hop != "web-1" {
			t.Errorf("controller routes to %s via %q, want via the relay web-1", host, hop)
		}
	}
	// A LAN node dials the relay and listens on nothing.
	for _, n := range m.Nodes()[1:] {
		cfg, err := os.ReadFile(n.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(cfg), "tcp-listener") || !strings.Contains(string(cfg), m.RelayAddr()) {
			t.Errorf("config of %s: want a tcp-peer to %s and no listener:\n%s", n.ID, m.RelayAddr(), cfg)
		}
	}
	// Start again restarts nothing.
	before := map[string]int{}
	for _, n := range append(m.Nodes(), m.Controller()) {
		before[n.ID], _ = nodeRunning(n)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range append(m.Nodes(), m.Controller()) {
		if pid, _ := nodeRunning(n); pid != before[n.ID] {
			t.Errorf("second Start restarted %s (pid %d -> %d)", n.ID, before[n.ID], pid)
		}
	}
	// Secrets are not readable by others.
	for _, p := range []string{filepath.Join(m.dir, "ca.key"), m.signingKeyPath(), m.Nodes()[1].KeyPath()} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", p, fi.Mode().Perm(), err)
		}
	}
}

func TestRunThroughRelay(t *testing.T) {
	m := startMesh(t, testTopology())
	ctx := context.Background()
	tests := []struct {
		name    string
		host    string
		work    Work
		want    string
		wantErr string
	}{
		{name: "LAN host echoes its payload", host: "api-1",
			work: Work{Type: "echo", Args: []string{"a b", "c"}, Payload: strings.NewReader("hello")},
			want: "hello from api-1 a b c"},
		{name: "relay host runs work too", host: "web-1",
			work: Work{Type: "echo", Payload: strings.NewReader("hi")}, want: "hi from web-1"},
		{name: "failing unit carries the host's own error text", host: "api-2",
			work: Work{Type: "fail"}, wantErr: "disk full on api-2"},
		{name: "unknown work type", host: "api-1", work: Work{Type: "nope"}, wantErr: `runs no work of type "nope"`},
		{name: "unknown host", host: "db-9", work: Work{Type: "echo"}, wantErr: "not in the mesh"},
		// A query is submitted to the host's node itself, signed by the
		// controller's key, with no unit of the controller's.
		{name: "query on a LAN host echoes its payload", host: "api-1",
			work: Work{Type: "echo", Args: []string{"a b", "c"}, Payload: strings.NewReader("hello"), Query: true},
			want: "hello from api-1 a b c"},
		{name: "query on the relay host", host: "web-1",
			work: Work{Type: "echo", Payload: strings.NewReader("hi"), Query: true}, want: "hi from web-1"},
		{name: "failing query carries the host's own error text", host: "api-2",
			work: Work{Type: "fail", Query: true}, wantErr: "disk full on api-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var streamed strings.Builder
			tt.work.Stream = &streamed
			out, err := m.Run(ctx, tt.host, tt.work)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if tt.work.Type == "fail" && !errors.Is(err, ErrUnitFailed) {
					t.Errorf("err = %v, want ErrUnitFailed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out.Text); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
			if streamed.String() != out.Text {
				t.Errorf("streamed %q, returned %q", streamed.String(), out.Text)
			}
			t.Logf("%s: %v", tt.host, out.Duration)
		})
	}
	// Every unit was released, queries included, on the hosts and here.
	for _, n := range append(m.Nodes(), m.Controller()) {
		var units map[string]any
		if err := (control{path: n.SocketPath(), node: n.ID}).call(ctx, map[string]any{"command": "work", "subcommand": "list"}, &units); err != nil {
			t.Fatal(err)
		}
		if len(units) != 0 {
			t.Errorf("node %s keeps units %v", n.ID, units)
		}
	}
}

// A unit outlives the mesh connection it was followed on: the relay's
// node is killed while a LAN host's unit runs and started again; Run
// dials again, once the mesh has re-formed, and the output resumes at
// the byte it had reached, each line once.
func TestRunSurvivesRelayRestart(t *testing.T) {
	m := startMesh(t, testTopology())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream := &lineWaiter{seen: make(chan struct{})}
	done := make(chan error, 1)
	var out Output
	go func() {
		var err error
		out, err = m.Run(ctx, "api-1", Work{Type: "slow", Args: []string{"6"}, Stream: stream})
		done <- err
	}()
	select {
	case <-stream.seen:
	case err := <-done:
		t.Fatalf("the unit ended before its first line was seen: %v", err)
	case <-ctx.Done():
		t.Fatal("no first line from the unit")
	}
	if err := m.stopNode(m.Relay()); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.nodeRunning(m.Relay()); ok {
		t.Fatal("the relay's node still runs")
	}
	if err := m.startNode(m.Relay()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run across the relay's restart: %v", err)
	}
	if want := "first from api-1\nlast from api-1\n"; out.Text != want {
		t.Errorf("output %q, want %q", out.Text, want)
	}
	t.Logf("unit across the relay's restart: %v", out.Duration)
}

// lineWaiter closes seen at its first write.
type lineWaiter struct {
	once sync.Once
	seen chan struct{}
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.seen) })
	return len(p), nil
}

// A query's signature is the controller's: a node refuses one made with
// another key, and one made for another node.
func TestQueryNeedsTheControllersSignature(t *testing.T) {
	m := startMesh(t, testTopology())
	ctx := context.Background()
	other, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := loadSigningKey(m.signingKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := workToken(other, "api-1", time.Now())
	forWeb, _ := workToken(key, "web-1", time.Now())
	expired, _ := workToken(key, "api-1", time.Now().Add(-time.Hour))
	good, _ := workToken(key, "api-1", time.Now())
	ctrl := control{path: m.Controller().SocketPath(), node: ControllerID}.on("api-1")
	for _, tt := range []struct{ name, token, wantErr string }{
		{"another key", forged, "verif"},
		{"another node", forWeb, "audience"},
		{"expired", expired, "expired"},
		{"none", "", "signature is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ctrl.submitHere(ctx, "echo", "", tt.token, strings.NewReader("x"))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("submit with %s's token: err = %v, want one containing %q", tt.name, err, tt.wantErr)
			}
		})
	}
	unit, err := ctrl.submitHere(ctx, "echo", "", good, strings.NewReader("x"))
	if err != nil {
		t.Fatalf("the controller's own token: %v", err)
	}
	_ = ctrl.call(ctx, workCmd("release", unit, good), nil)
}

func TestForeignCertificateRefused(t *testing.T) {
	topo := testTopology()
	m := startMesh(t, topo)
	// A node of another stack: its own CA, a valid certificate for a node
	// ID that even matches a host name, and it trusts our relay.
	other, err := New(t.TempDir(), "other", topology.Topology{
		Zones: topo.Zones,
		Hosts: []topology.Host{{Name: "api-1", Role: topology.RoleAPI, Zone: "lan", Address: topo.Hosts[0].Address}},
	}, Options{Receptor: m.receptor, WorkTypes: shellWork})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Prepare(); err != nil {
		t.Fatal(err)
	}
	// The spy's certificate names api-1, a host of our stack.
	spy := other.Nodes()[0]
	spy.Relay = false
	cert, err := readCert(spy.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	spyCfg := nodeConfig{Node: spy, CA: m.caPath(), RelayAddr: m.RelayAddr(), AllowedIDs: []string{m.Relay().ID},
		ControlPins: []string{Fingerprint(cert)}}
	data, err := spyCfg.render()
	if err != nil {
		t.Fatal(err)
	}
	if err := renameio.WriteFile(spy.ConfigPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := other.startNode(spy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopNode(spy) })
	// The spy keeps redialing; give it time for several attempts.
	deadline := time.Now().Add(4 * time.Second)
	relayLog := ""
	for time.Now().Before(deadline) {
		relayLog = supervise.LogTail(m.Relay().LogPath(), 1<<16)
		if strings.Contains(relayLog, "certificate") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(relayLog, "certificate") {
		t.Errorf("relay log shows no refused certificate:\n%s\nspy log:\n%s", relayLog, supervise.LogTail(spy.LogPath(), 4096))
	}
	st, err := control{path: m.Relay().SocketPath(), node: m.Relay().ID}.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := nodeRunning(spy); !ok {
		t.Fatalf("the spy exited instead of redialing:\n%s", supervise.LogTail(spy.LogPath(), 4096))
	}
	if len(st.Connections) != 3 {
		t.Errorf("relay connections = %+v, want exactly controller, api-1, api-2", st.Connections)
	}
	// Work still reaches the real api-1.
	out, err := m.Run(context.Background(), "api-1", Work{Type: "echo", Payload: strings.NewReader("still")})
	if err != nil || !strings.Contains(out.Text, "still from api-1") {
		t.Fatalf("run after spy: %q, %v", out.Text, err)
	}
}

// BenchmarkRunThroughRelay is the round trip of a small unit of work from
// the controller through the DMZ relay to a LAN host and back: submit,
// run a command worker, stream the output, release.
func BenchmarkRunThroughRelay(b *testing.B) {
	if testing.Short() {
		b.Skip("starts receptor processes")
	}
	bin, err := filepath.Abs("../../bin/receptor")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("no receptor binary at %s: run make bin/receptor", bin)
	}
	topo := testTopology()
	m, err := New(b.TempDir(), "bench", topo, Options{Receptor: bin, WorkTypes: shellWork})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Stop()
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	// unit: its output streamed as it is written (runHere); query: read
	// once it is complete (runQuery).
	for _, query := range []bool{false, true} {
		name := map[bool]string{false: "unit", true: "query"}[query]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Run(ctx, "api-1", Work{Type: "echo", Payload: strings.NewReader("ping"), Query: query}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
