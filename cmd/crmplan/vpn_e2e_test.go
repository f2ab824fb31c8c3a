package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"

	"github.com/crmplan/crmplan/app/vpn"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/netns"
)

// TestVPNIsolated is the attack on seed 002's VPN access (ARVPN) on an
// isolated stack: the client-server plan with a vpn tier in the DMZ (a
// small stack; examples/arint.yaml's vpn tier is the same role, checked
// by provision's TestVPNLayout). A peer added with crmplan vpn add-peer
// before apply gets its tunnel. The laptop is a namespace of the test's
// own whose only way out is its WireGuard tun device (10.238.0.2); its
// encrypted UDP leaves from this machine, as a user's from outside. A key
// the endpoint does not know gets nothing; the peer's own key reaches the
// web tier (the vpn role's one link) and neither the database nor the
// endpoint itself, even with them in its AllowedIPs.
func TestVPNIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmplan and crm, runs Pulumi, PostgreSQL and WireGuard in network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("--isolate needs root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no tun devices here: %v", err)
	}
	if err := (netns.Target{}).CheckRange("lan", mustPrefix("10.14.2.0/24")); err != nil {
		t.Skipf("no isolated hosts here: %v", err)
	}
	t.Parallel()
	e := newDeployEnv(t)
	plan := rewritePlan(t, examplePlan(t, "client-server"), "  - role: api\n", "  - role: vpn\n    zone: dmz\n  - role: api\n")
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: "client-server"}
	t.Cleanup(func() {
		start := time.Now()
		_, _ = e.exec("destroy", "--stack", "client-server", "--yes")
		t.Logf("destroy: %.1fs", time.Since(start).Seconds())
		_ = netns.Target{Stack: paths.HostsDir()}.DestroyStack(context.Background())
	})

	addPeer := func(name string, flags ...string) ([]byte, error) {
		// NAME after the flags: urfave/cli stops parsing flags at it.
		args := append(append(append([]string{"vpn", "add-peer", "--plan", plan}, flags...), e.args...), name)
		return exec.Command(e.crmplan, args...).CombinedOutput()
	}
	var peer provision.VPNPeer
	out, err := addPeer("laptop", "--isolate", "--output", "json")
	if err == nil {
		err = json.Unmarshal(out, &peer)
	}
	if err != nil {
		t.Fatalf("vpn add-peer --output json: %v\n%s", err, out)
	}
	if out, err := addPeer("laptop-2"); err == nil || !strings.Contains(string(out), "Try: crmplan vpn add-peer --isolate") {
		t.Errorf("add-peer without --isolate: %v\n%s\nwant refused with a Try", err, out)
	}
	res, took := e.apply(plan, "--isolate")
	t.Logf("apply --isolate with a vpn tier: %.1fs", took.Seconds())
	var db, endpoint netip.Addr
	var webs []netip.Prefix
	for _, h := range res.Hosts {
		switch h.Role {
		case "web":
			webs = append(webs, netip.PrefixFrom(netip.MustParseAddr(h.Address), 32))
		case "db-primary":
			db = netip.MustParseAddr(h.Address)
		case "vpn":
			endpoint = netip.MustParseAddr(h.Address)
		}
	}
	if len(webs) == 0 || !db.IsValid() || !endpoint.IsValid() || peer.Endpoint.Addr() != endpoint {
		t.Fatalf("hosts %+v; peer's endpoint %s", res.Hosts, peer.Endpoint)
	}
	if fmt.Sprint(peer.AllowedIPs) != fmt.Sprint(webs) {
		t.Errorf("the peer's AllowedIPs are %v, want the web tier's %v", peer.AllowedIPs, webs)
	}
	web := webs[len(webs)-1].Addr()

	laptop := laptopNamespace(t)
	here, err := vns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	attack := append(append([]netip.Prefix(nil), peer.AllowedIPs...), netip.PrefixFrom(db, 32), netip.MustParsePrefix("10.238.0.1/32"))
	open := func(key vpn.Key) *vpn.Tunnel {
		t.Helper()
		var tun *vpn.Tunnel
		err := vpn.InNamespace(laptop, func() (err error) {
			tun, err = vpn.Open(vpn.Config{Interface: "wg-laptop", PrivateKey: key, Address: netip.PrefixFrom(peer.Address, 32), Outer: here,
				Peers: []vpn.Peer{{PublicKey: peer.Server, Endpoint: peer.Endpoint, AllowedIPs: attack, Keepalive: 1}}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return tun
	}
	webURL := fmt.Sprintf("%s://%s/healthz", strings.SplitN(res.WebURL, "://", 2)[0], net.JoinHostPort(web.String(), "8080"))

	stranger, err := vpn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tun := open(stranger)
	if err := getFrom(laptop, webURL, 2*time.Second); err == nil {
		t.Error("a key the endpoint does not know reached the web tier through the tunnel")
	}
	tun.Close()

	tun = open(peer.PrivateKey)
	defer tun.Close()
	start := time.Now()
	if err := getFrom(laptop, webURL, 15*time.Second); err != nil {
		t.Fatalf("the peer did not reach %s through the tunnel: %v", webURL, err)
	}
	t.Logf("handshake and GET %s through the tunnel: %.2fs", webURL, time.Since(start).Seconds())
	for _, to := range []string{net.JoinHostPort(db.String(), "5432"), "10.238.0.1:51820"} {
		err := vpn.InNamespace(laptop, func() error {
			c, err := net.DialTimeout("tcp", to, 2*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			t.Errorf("the peer reached %s through the tunnel", to)
		}
		t.Logf("peer -> %s: %v", to, err)
	}
	// Nothing of the laptop's range reached the LAN: the endpoint sends
	// on from its own address.
	if out, err := exec.Command("ip", "netns", "exec", netnsOf(t, e, "vpn-1"), "nft", "list", "table", "inet", "crmvpn").CombinedOutput(); err != nil ||
		!bytes.Contains(out, []byte("masquerade")) {
		t.Errorf("the endpoint's table: %v\n%s", err, out)
	}
}

// laptopNamespace is a namespace with nothing but lo: the tunnel is its
// only way out.
func laptopNamespace(t *testing.T) vns.NsHandle {
	t.Helper()
	var ns vns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the new namespace
		var err error
		if ns, err = vns.New(); err == nil {
			var lo netlink.Link
			if lo, err = netlink.LinkByName("lo"); err == nil {
				err = netlink.LinkSetUp(lo)
			}
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// getFrom GETs url from namespace ns and wants a 200; the stack's web CA
// is not the point here, so its certificate is not checked.
func getFrom(ns vns.NsHandle, url string, timeout time.Duration) error {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // reachability, not identity
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = vpn.InNamespace(ns, func() (err error) {
				c, err = (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: timeout}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func netnsOf(t *testing.T, e *deployEnv, host string) string {
	t.Helper()
	var st provision.Status
	e.json(&st, "status", "--stack", "client-server")
	for _, h := range st.Hosts {
		if h.Name == host {
			if !h.Healthy {
				t.Errorf("status: %s unhealthy: %s", host, h.Health)
			}
			return h.Namespace
		}
	}
	t.Fatalf("status has no %s: %+v", host, st.Hosts)
	return ""
}
