package vpn

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
)

// TestTunnelReachesOnlyWhatIsAllowed is the attack on the endpoint, with
// real WireGuard (wireguard-go over tun devices) in namespaces of the
// test's own, all in 10.238.0.0/16:
//
//	laptop 10.238.251.2 --- 10.238.251.1 srv (wg0 10.238.0.1/16) 10.238.250.1 --- 10.238.250.2 svc :8080 allowed, :5432 not
//
// A laptop with a key the endpoint does not know gets nothing through;
// routed past the tunnel it gets nothing either; with its registered key
// it reaches svc:8080, seen there as the endpoint's own address, and
// neither svc:5432 nor the endpoint's own ports.
func TestTunnelReachesOnlyWhatIsAllowed(t *testing.T) {
	needNamespaces(t)
	srv, svc, laptop := newNS(t, "srv"), newNS(t, ""), newNS(t, "")
	veth(t, srv, "lan", "10.238.250.1/30", svc, "eth0", "10.238.250.2/30")
	veth(t, srv, "out", "10.238.251.1/30", laptop, "eth0", "10.238.251.2/30")
	// svc has no route to the tunnel's range: replies find their way
	// back only because the endpoint masquerades.
	allowed, db := listen(t, svc, "10.238.250.2:8080"), listen(t, svc, "10.238.250.2:5432")
	own := listen(t, srv, "0.0.0.0:51820") // the endpoint's health port: TCP beside WireGuard's UDP

	serverKey, laptopKey, strangerKey := genKey(t), genKey(t), genKey(t)
	var server *Tunnel
	inNS(t, srv, func() (err error) {
		server, err = Serve(ServerConfig{Interface: "wg0", PrivateKey: serverKey, Address: netip.MustParsePrefix("10.238.0.1/16"),
			Port: DefaultPort, Clients: []Client{{Name: "laptop", PublicKey: laptopKey.Public(), Address: netip.MustParseAddr("10.238.0.2")}},
			Allow: []Allow{{Addr: netip.MustParseAddr("10.238.250.2"), Port: 8080}}})
		return err
	})
	t.Cleanup(server.Close)

	client := func(key Key) Config {
		return Config{Interface: "wg1", PrivateKey: key, Address: netip.MustParsePrefix("10.238.0.2/32"),
			Peers: []Peer{{PublicKey: serverKey.Public(), Endpoint: netip.MustParseAddrPort("10.238.251.1:51820"), Keepalive: 1,
				AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.238.250.2/32"), netip.MustParsePrefix("10.238.0.1/32")}}}}
	}
	t.Run("unknown key", func(t *testing.T) {
		var tun *Tunnel
		inNS(t, laptop, func() (err error) { tun, err = Open(client(strangerKey)); return err })
		defer tun.Close()
		if err := dial(laptop, "10.238.250.2:8080", 3*time.Second); err == nil {
			t.Error("a laptop whose key the endpoint does not know reached the allowed service")
		}
		allowed.none(t)
	})
	t.Run("past the tunnel", func(t *testing.T) {
		inNS(t, laptop, func() error {
			return netlink.RouteReplace(&netlink.Route{Dst: ipnet(netip.MustParsePrefix("10.238.250.0/30")),
				Gw: net.ParseIP("10.238.251.1")})
		})
		if err := dial(laptop, "10.238.250.2:8080", 2*time.Second); err == nil {
			t.Error("the endpoint forwarded a connection that did not come through the tunnel")
		}
		allowed.none(t)
	})

	var tun *Tunnel
	inNS(t, laptop, func() (err error) { tun, err = Open(client(laptopKey)); return err })
	t.Cleanup(tun.Close)
	if err := dial(laptop, "10.238.250.2:8080", 10*time.Second); err != nil {
		t.Fatalf("the registered laptop did not reach the allowed service through the tunnel: %v", err)
	}
	if from := allowed.next(t); from != "10.238.250.1" {
		t.Errorf("the allowed service saw the connection from %s, want the endpoint's 10.238.250.1 (masquerade)", from)
	}
	for _, to := range []string{"10.238.250.2:5432", "10.238.0.1:51820"} {
		err := dial(laptop, to, 2*time.Second)
		if err == nil {
			t.Errorf("the registered laptop reached %s through the tunnel", to)
		}
		t.Logf("laptop -> %s: %v", to, err)
	}
	db.none(t)
	own.none(t)
}

func needNamespaces(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tun devices and network namespaces need root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no tun devices here: %v", err)
	}
}

func genKey(t *testing.T) Key {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newNS is a network namespace, gone when the test ends and nothing
// holds it any more; a name mounts it as crm-vpntest-NAME-PID under
// /run/netns (the endpoint runs only in a named one).
func newNS(t *testing.T, name string) vns.NsHandle {
	t.Helper()
	var ns vns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the new namespace
		var err error
		if name == "" {
			ns, err = vns.New()
		} else {
			name = fmt.Sprintf("crm-vpntest-%s-%d", name, os.Getpid())
			ns, err = vns.NewNamed(name)
		}
		if err == nil {
			var lo netlink.Link
			if lo, err = netlink.LinkByName("lo"); err == nil {
				err = netlink.LinkSetUp(lo)
			}
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("new network namespace: %v", err)
	}
	t.Cleanup(func() {
		ns.Close()
		if name != "" {
			_ = vns.DeleteNamed(name)
		}
	})
	return ns
}

func inNS(t *testing.T, ns vns.NsHandle, fn func() error) {
	t.Helper()
	if err := InNamespace(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// veth joins namespaces a and b with a veth pair, with an address at each end.
func veth(t *testing.T, a vns.NsHandle, aName, aAddr string, b vns.NsHandle, bName, bAddr string) {
	t.Helper()
	inNS(t, a, func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName, PeerNamespace: netlink.NsFd(b)}); err != nil {
			return fmt.Errorf("veth %s: %w", aName, err)
		}
		return addrUp(aName, aAddr)
	})
	inNS(t, b, func() error { return addrUp(bName, bAddr) })
}

func addrUp(name, addr string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipnet(netip.MustParsePrefix(addr))}); err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// counting is a listener that records whom it accepted.
type counting struct{ from chan string }

func listen(t *testing.T, ns vns.NsHandle, addr string) *counting {
	t.Helper()
	var l net.Listener
	inNS(t, ns, func() (err error) { l, err = net.Listen("tcp", addr); return err })
	t.Cleanup(func() { l.Close() })
	c := &counting{from: make(chan string, 16)}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.from <- conn.RemoteAddr().(*net.TCPAddr).IP.String()
			_, _ = io.WriteString(conn, "hello\n")
			conn.Close()
		}
	}()
	return c
}

func (c *counting) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-c.from:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("the service accepted nothing")
		return ""
	}
}

func (c *counting) none(t *testing.T) {
	t.Helper()
	select {
	case f := <-c.from:
		t.Errorf("the service accepted a connection from %s", f)
	default:
	}
}

// dial connects from namespace ns and reads the service's greeting.
func dial(ns vns.NsHandle, addr string, timeout time.Duration) error {
	return InNamespace(ns, func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		line, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(line), "hello") {
			return fmt.Errorf("greeting %q", line)
		}
		return nil
	})
}

// TestServeNeedsANamedNamespace: the endpoint turns forwarding on and
// writes nftables rules where it runs, so it refuses any namespace not
// made for it on purpose (this machine's is never named). Tried in an
// anonymous namespace of the test's, so that a broken guard changes
// nothing of this machine's.
func TestServeNeedsANamedNamespace(t *testing.T) {
	needNamespaces(t)
	ns := newNS(t, "")
	key := genKey(t)
	err := InNamespace(ns, func() error {
		tun, err := Serve(ServerConfig{Interface: "wg0", PrivateKey: key, Address: netip.MustParsePrefix("10.238.0.1/16"), Port: DefaultPort})
		if err == nil {
			tun.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "named network namespace") || !strings.Contains(err.Error(), "Try: crmplan apply --isolate") {
		t.Errorf("Serve in an anonymous namespace = %v, want refused with a Try", err)
	}
}
