package provision

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/app/vpn"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

func arintTopology(t *testing.T) topology.Topology {
	t.Helper()
	data, err := os.ReadFile("../examples/arint.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.DecodePlan("arint.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	laid, err := topology.Lay(plan)
	if err != nil {
		t.Fatal(err)
	}
	return laid.Topology
}

// TestVPNLayout: seed 002's vpn host is skipped, with why, where hosts
// share this machine's namespace; isolated, the network lets WireGuard
// in from outside and the endpoint on to the proxies, nothing else.
func TestVPNLayout(t *testing.T) {
	topo := arintTopology(t)
	paths := stackdir.Paths{StateDir: "/s", Stack: "arint"}
	l, err := NewLayout(LayoutInput{Paths: paths, Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.ByRole(topology.RoleVPN)) != 0 || len(l.Skipped) != 1 || l.Skipped[0].Host != "vpn-1" ||
		!strings.Contains(l.Skipped[0].Why, "network namespace") || !strings.Contains(l.Skipped[0].Try, "--isolate") {
		t.Errorf("loopback: vpn hosts %v, skipped %+v; want vpn-1 skipped with why and Try --isolate", l.ByRole(topology.RoleVPN), l.Skipped)
	}

	l, err = NewLayout(LayoutInput{Paths: paths, Topology: isolatedTopology(topo), Target: anyRange{}})
	if err != nil {
		t.Fatal(err)
	}
	vpns := l.ByRole(topology.RoleVPN)
	if len(vpns) != 1 || len(l.Skipped) != 0 {
		t.Fatalf("isolated: vpn hosts %v, skipped %+v; want vpn-1 placed", vpns, l.Skipped)
	}
	n, err := isolatedNetwork(l)
	if err != nil {
		t.Fatal(err)
	}
	var fromVPN []string
	var udp []string
	for _, r := range n.Policy {
		if r.From == netip.PrefixFrom(netip.MustParseAddr(vpns[0].Address), 32) {
			fromVPN = append(fromVPN, r.String())
		}
		if r.Proto != "" {
			udp = append(udp, r.String())
		}
	}
	var want, allowed []string
	for _, p := range l.ByRole(topology.RoleProxy) {
		want = append(want, vpns[0].Address+"/32 -> "+p.Address+":8443")
		allowed = append(allowed, p.Address+":8443")
	}
	want = append(want, vpns[0].Address+"/32 -> 10.10.1.10:27199") // its mesh node to the relay
	if !slices.Equal(fromVPN, want) {
		t.Errorf("rules from the vpn host:\n got %q\nwant %q", fromVPN, want)
	}
	if wantUDP := []string{"machine -> " + vpns[0].Address + ":51820/udp"}; !slices.Equal(udp, wantUDP) {
		t.Errorf("UDP rules: got %q, want %q", udp, wantUDP)
	}
	var got []string
	for _, a := range vpnAllowed(l) {
		got = append(got, a.String())
	}
	if len(allowed) != 2 || !slices.Equal(got, allowed) {
		t.Errorf("the endpoint allows %q, want the two proxies %q", got, allowed)
	}
}

// TestAddVPNPeer: each peer gets a fresh key and the next address; the
// stack keeps its public key only, in a 0600 file; bad names, a second
// peer of one name and a stack without a running endpoint are refused.
func TestAddVPNPeer(t *testing.T) {
	r := Request{StateDir: t.TempDir(), Stack: "arint", Topology: arintTopology(t), Isolate: true}
	alice, err := AddVPNPeer(r, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := AddVPNPeer(r, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if alice.Address.String() != "10.238.0.2" || bob.Address.String() != "10.238.0.3" {
		t.Errorf("addresses %s and %s, want 10.238.0.2 and 10.238.0.3", alice.Address, bob.Address)
	}
	if alice.PrivateKey == bob.PrivateKey || alice.Server != bob.Server || alice.Endpoint.Port() != vpn.DefaultPort || alice.Host != "vpn-1" {
		t.Errorf("alice %+v, bob %+v: want fresh keys, one endpoint", alice, bob)
	}
	st, err := os.Stat(vpnPath(r.paths()))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("vpn state: %v, %v; want mode 0600", st, err)
	}
	s, err := loadVPN(r.paths())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Clients) != 2 || s.Clients[0].PublicKey != alice.PrivateKey.Public() || s.Key.Public() != alice.Server {
		t.Errorf("state %+v does not match the peers", s.Clients)
	}
	b, _ := os.ReadFile(vpnPath(r.paths()))
	if bytes.Contains(b, []byte(alice.PrivateKey.String())) {
		t.Error("the stack keeps a peer's private key")
	}
	var conf bytes.Buffer
	if err := alice.WriteConfig(&conf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PrivateKey = " + alice.PrivateKey.String(), "Address = 10.238.0.2/32", "PublicKey = " + alice.Server.String(),
		"Endpoint = " + alice.Endpoint.String(), "AllowedIPs = " + alice.AllowedIPs[0].String() + ", "} {
		if !strings.Contains(conf.String(), want) {
			t.Errorf("config lacks %q:\n%s", want, conf.String())
		}
	}

	tests := []struct {
		name     string
		r        Request
		peer     string
		wantCode string
		wantMsg  string
	}{
		{"same name", r, "alice", crmplan.ECONFLICT, "exists already"},
		{"two words", r, "alice laptop", crmplan.EINVALID, "one word"},
		{"loopback", Request{StateDir: t.TempDir(), Stack: "arint", Topology: r.Topology}, "carol", crmplan.EINVALID, "network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AddVPNPeer(tt.r, tt.peer)
			if crmplan.ErrorCode(err) != tt.wantCode || err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("AddVPNPeer(%q) = %v, want %s %q", tt.peer, err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}
