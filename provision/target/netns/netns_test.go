package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/targettest"
)

// Every test places its stacks in 10.231.0.0/16 (no other test of the
// repository does), under a blackhole route for all of it that guard
// installs first: should the target fail to route a range, a packet for
// it still cannot leave through this machine's default route.
var testRanges = netip.MustParsePrefix("10.231.0.0/16")

// guard skips the test unless this machine can make isolated hosts, and
// installs the blackhole for testRanges until the test ends.
func guard(t *testing.T) {
	t.Helper()
	if err := capable(); err != nil {
		t.Skipf("no isolated hosts here: %v", err)
	}
	r := netlink.Route{Dst: ipnet(testRanges), Type: unix.RTN_BLACKHOLE, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_STATIC, Priority: 4242}
	if err := netlink.RouteReplace(&r); err != nil {
		t.Fatalf("blackhole %s: %v", testRanges, err)
	}
	t.Cleanup(func() { _ = netlink.RouteDel(&r) })
}

func TestContract(t *testing.T) {
	guard(t)
	receptor := targettest.Receptor(t)
	hostsDir := t.TempDir()
	cidr := netip.MustParsePrefix("10.231.1.0/24")
	// A range a route of this machine owns is foreign to the target.
	foreign := netip.MustParsePrefix("10.231.77.0/24")
	taken := netlink.Route{Dst: ipnet(foreign), Type: unix.RTN_UNREACHABLE, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_STATIC}
	if err := netlink.RouteReplace(&taken); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlink.RouteDel(&taken) })
	tgt := Target{Stack: hostsDir, Zones: []Zone{{Name: "dmz", CIDR: cidr, Outside: true}}}
	t.Cleanup(func() { assertNoLeftovers(t, hostsDir) })
	targettest.Run(t, targettest.Fixture{
		Target: tgt,
		Host: func(t *testing.T, i int) target.Host {
			name := fmt.Sprintf("web-%d", i)
			return target.Host{Name: name, Zone: "dmz", CIDR: cidr.String(),
				Address: fmt.Sprintf("10.231.1.%d", 10+i), Dir: filepath.Join(hostsDir, name)}
		},
		Range:    cidr,
		Foreign:  foreign,
		Outside:  "10.231.2.10",
		Receptor: receptor,
		NodePort: 27198,
	})
}

func TestCheckRange(t *testing.T) {
	guard(t)
	hostsDir := t.TempDir()
	tgt := Target{Stack: hostsDir}
	// A stack's own routes are no collision on its next apply; another
	// stack's are.
	h := target.Host{Name: "web-1", Zone: "dmz", CIDR: "10.231.3.0/24", Address: "10.231.3.10", Dir: filepath.Join(hostsDir, "web-1")}
	if err := tgt.Create(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Destroy(context.Background(), h) })
	other := Target{Stack: t.TempDir()}
	tests := []struct {
		name    string
		tgt     Target
		cidr    string
		wantErr bool
	}{
		{"private", tgt, "10.231.4.0/24", false},
		{"under a covering blackhole", tgt, "10.231.5.0/25", false},
		{"the stack's own range", tgt, "10.231.3.0/24", false},
		{"another stack's range", other, "10.231.3.0/24", true},
		{"overlapping another stack's", other, "10.231.0.0/22", true},
		{"the covering blackhole itself", tgt, "10.231.0.0/16", true},
		{"loopback", tgt, "127.10.1.0/24", true},
		{"public", tgt, "8.8.8.0/24", true},
		{"everything", tgt, "0.0.0.0/0", true},
		{"ipv6", tgt, "fd00:10::/64", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tgt.CheckRange("lan", netip.MustParsePrefix(tt.cidr))
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckRange(%s) = %v, wantErr %v", tt.cidr, err, tt.wantErr)
			}
			if err != nil && crmplan.ErrorCode(err) != crmplan.EINVALID {
				t.Fatalf("CheckRange(%s) = %v, want an EINVALID error", tt.cidr, err)
			}
		})
	}
}

// TestPolicy proves the router's policy with real TCP: a connection the
// policy allows completes, one it does not is refused at once and never
// reaches the listener, within a zone as across zones; this machine
// reaches the DMZ host's allowed port and no LAN host, whose address has a
// local unreachable route and no way out through the default route.
func TestPolicy(t *testing.T) {
	guard(t)
	ctx := context.Background()
	hostsDir := t.TempDir()
	dmz, lan := netip.MustParsePrefix("10.231.11.0/24"), netip.MustParsePrefix("10.231.12.0/24")
	web1, web2 := netip.MustParseAddr("10.231.11.10"), netip.MustParseAddr("10.231.11.11")
	api1, db1 := netip.MustParseAddr("10.231.12.10"), netip.MustParseAddr("10.231.12.11")
	tgt := Target{Stack: hostsDir,
		Zones: []Zone{{Name: "dmz", CIDR: dmz, Outside: true}, {Name: "lan", CIDR: lan}},
		Policy: []Rule{
			{From: netip.PrefixFrom(web1, 32), To: api1, Port: 8080},
			{To: web1, Port: 8443},
			{To: api1, Port: 8080}, // allowed, yet this machine has no route to the LAN
		}}
	hosts := map[string]target.Host{}
	for name, a := range map[string]netip.Addr{"web-1": web1, "web-2": web2, "api-1": api1, "db-1": db1} {
		zone, cidr := "dmz", dmz
		if lan.Contains(a) {
			zone, cidr = "lan", lan
		}
		hosts[name] = target.Host{Name: name, Zone: zone, CIDR: cidr.String(), Address: a.String(), Dir: filepath.Join(hostsDir, name)}
	}
	t.Cleanup(func() {
		for _, h := range hosts {
			if err := tgt.Destroy(ctx, h); err != nil {
				t.Errorf("Destroy(%s) = %v", h.Name, err)
			}
		}
		assertNoLeftovers(t, hostsDir)
	})
	for _, h := range hosts {
		if err := tgt.Create(ctx, h); err != nil {
			t.Fatalf("Create(%s) = %v", h.Name, err)
		}
	}
	// Before anything connects: the LAN's addresses have a local route that
	// takes nothing anywhere; the DMZ's go into the stack's router.
	assertRoutedLocally(t, tgt, hostsDir, api1, false)
	assertRoutedLocally(t, tgt, hostsDir, db1, false)
	assertRoutedLocally(t, tgt, hostsDir, web1, true)

	ns := func(h string) string { n, _ := tgt.Namespace(hosts[h]); return n }
	listeners := map[string]*counting{
		"web-1:8443": listenIn(t, ns("web-1"), web1, 8443),
		"web-2:8443": listenIn(t, ns("web-2"), web2, 8443),
		"api-1:8080": listenIn(t, ns("api-1"), api1, 8080),
		"db-1:5432":  listenIn(t, ns("db-1"), db1, 5432),
	}
	tests := []struct {
		name, from, to string
		to4            netip.Addr
		port           int
		allowed        bool
	}{
		{"web-1 to api-1:8080, a rule", "web-1", "api-1:8080", api1, 8080, true},
		{"web-1 to db-1:5432, no rule", "web-1", "db-1:5432", db1, 5432, false},
		{"api-1 to web-1:8443, the reverse of a rule", "api-1", "web-1:8443", web1, 8443, false},
		{"api-1 to db-1:5432, same zone, no rule", "api-1", "db-1:5432", db1, 5432, false},
		{"web-2 to web-1:8443, same zone, no rule", "web-2", "web-1:8443", web1, 8443, false},
		{"machine to web-1:8443, a rule", "", "web-1:8443", web1, 8443, true},
		{"machine to web-2:8443, no rule", "", "web-2:8443", web2, 8443, false},
		{"machine to api-1:8080, a LAN host", "", "api-1:8080", api1, 8080, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := ""
			if tt.from != "" {
				from = ns(tt.from)
			}
			l := listeners[tt.to]
			before := l.accepted()
			err := dialFrom(from, tt.to4, tt.port)
			if tt.allowed {
				if err != nil {
					t.Fatalf("connect = %v, want it allowed", err)
				}
				l.waitFor(t, before+1)
				return
			}
			if err == nil {
				t.Fatalf("connect completed, want it denied")
			}
			if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
				t.Errorf("connect = %v, want it refused by the policy or the route (no route to host, network unreachable)", err)
			}
			time.Sleep(20 * time.Millisecond)
			if got := l.accepted(); got != before {
				t.Fatalf("the listener accepted %d connections, want none", got-before)
			}
		})
	}

	t.Run("EnforceChangesThePolicy", func(t *testing.T) {
		changed := tgt
		changed.Policy = append(append([]Rule(nil), tgt.Policy...), Rule{From: lan, To: db1, Port: 5432})
		if err := changed.Enforce(ctx); err != nil {
			t.Fatal(err)
		}
		if err := dialFrom(ns("api-1"), db1, 5432); err != nil {
			t.Fatalf("api-1 to db-1:5432 after a rule from the LAN = %v, want allowed", err)
		}
		if err := dialFrom(ns("web-1"), db1, 5432); err == nil {
			t.Fatalf("web-1 to db-1:5432 allowed by a rule from the LAN")
		}
		if err := tgt.Enforce(ctx); err != nil {
			t.Fatal(err)
		}
		if err := dialFrom(ns("api-1"), db1, 5432); err == nil {
			t.Fatalf("api-1 to db-1:5432 still allowed once the rule is gone")
		}
	})
}

// TestCreateConverges: after a crash or a hand's change left a stack half
// made, Create makes it whole again, and a target that knows nothing but
// the hosts (as the provider rebuilds it from state) destroys it all.
func TestCreateConverges(t *testing.T) {
	guard(t)
	ctx := context.Background()
	hostsDir := t.TempDir()
	dmz := netip.MustParsePrefix("10.231.41.0/24")
	web1 := netip.MustParseAddr("10.231.41.10")
	tgt := Target{Stack: hostsDir, Zones: []Zone{{Name: "dmz", CIDR: dmz, Outside: true}}, Policy: []Rule{{To: web1, Port: 8443}}}
	host := func(name, addr string) target.Host {
		return target.Host{Name: name, Zone: "dmz", CIDR: dmz.String(), Address: addr, Dir: filepath.Join(hostsDir, name)}
	}
	h1, h2 := host("web-1", web1.String()), host("web-2", "10.231.41.11")
	t.Cleanup(func() {
		bare := Target{}
		for _, h := range []target.Host{h1, h2} {
			if err := bare.Destroy(ctx, h); err != nil {
				t.Errorf("Destroy(%s) = %v", h.Name, err)
			}
		}
		assertNoLeftovers(t, hostsDir)
	})
	if err := tgt.Create(ctx, h1); err != nil {
		t.Fatal(err)
	}
	s, _ := stackOf(hostsDir)
	// The veth of web-1 and the uplink are gone (with the uplink, the DMZ's
	// route), and web-2's namespace is a file nothing is mounted on.
	rh, err := handle(s.router())
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	for _, del := range []struct {
		h    *netlink.Handle
		name string
	}{{rh, portName("web-1")}, {nil, s.uplink()}} {
		var l netlink.Link
		if del.h != nil {
			l, err = del.h.LinkByName(del.name)
		} else {
			l, err = netlink.LinkByName(del.name)
		}
		if err == nil && del.h != nil {
			err = del.h.LinkDel(l)
		} else if err == nil {
			err = netlink.LinkDel(l)
		}
		if err != nil {
			t.Fatalf("remove %s: %v", del.name, err)
		}
	}
	if err := os.WriteFile(nsPath(s.host("web-2")), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	for _, h := range []target.Host{h1, h2} {
		if err := tgt.Create(ctx, h); err != nil {
			t.Fatalf("Create(%s) again = %v", h.Name, err)
		}
	}
	assertRoutedLocally(t, tgt, hostsDir, web1, true)
	ns, _ := tgt.Namespace(h1)
	listenIn(t, ns, web1, 8443)
	if err := dialFrom("", web1, 8443); err != nil {
		t.Fatalf("machine to web-1:8443 after Create converged = %v", err)
	}
	// The provider's target, rebuilt from state, knows no stack: its own
	// routes are no collision for it, and it keeps the router's policy.
	if err := (Target{}).Create(ctx, h2); err != nil {
		t.Fatalf("Create(web-2) with a bare target = %v", err)
	}
	if err := dialFrom("", web1, 8443); err != nil {
		t.Fatalf("machine to web-1:8443 after a bare target's Create = %v", err)
	}
}

// TestDestroyStack: a host that no Destroy knows of (an apply killed
// between making it and recording it) goes with the stack.
func TestDestroyStack(t *testing.T) {
	guard(t)
	ctx := context.Background()
	hostsDir := t.TempDir()
	dmz := netip.MustParsePrefix("10.231.45.0/24")
	tgt := Target{Stack: hostsDir, Zones: []Zone{{Name: "dmz", CIDR: dmz, Outside: true}, {Name: "lan", CIDR: netip.MustParsePrefix("10.231.46.0/24")}}}
	t.Cleanup(func() { assertNoLeftovers(t, hostsDir) })
	for i, name := range []string{"web-1", "a-host-name-longer-than-an-interface-name"} {
		h := target.Host{Name: name, Zone: "dmz", CIDR: dmz.String(), Address: fmt.Sprintf("10.231.45.%d", 10+i), Dir: filepath.Join(hostsDir, name)}
		if err := tgt.Create(ctx, h); err != nil {
			t.Fatalf("Create(%s) = %v", name, err)
		}
		ns, _ := tgt.Namespace(h)
		// Something runs there that no node's pid file knows.
		cmd := exec.Command("nsenter", "--net="+nsPath(ns), "--", "sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go cmd.Wait()
	}
	if err := tgt.DestroyStack(ctx); err != nil {
		t.Fatalf("DestroyStack = %v", err)
	}
	if err := tgt.DestroyStack(ctx); err != nil {
		t.Fatalf("DestroyStack of a stack that is gone = %v", err)
	}
}

// TestTwoStacks: two stacks side by side share no name, and neither's
// hosts reach the other's.
func TestTwoStacks(t *testing.T) {
	guard(t)
	ctx := context.Background()
	var hosts []target.Host
	var tgts []Target
	for i, cidr := range []string{"10.231.21.0/24", "10.231.22.0/24"} {
		dir := t.TempDir()
		p := netip.MustParsePrefix(cidr)
		tgt := Target{Stack: dir, Zones: []Zone{{Name: "dmz", CIDR: p, Outside: true}}}
		h := target.Host{Name: "web-1", Zone: "dmz", CIDR: cidr, Address: p.Addr().Next().Next().String(), Dir: filepath.Join(dir, "web-1")}
		t.Cleanup(func() {
			if err := tgt.Destroy(ctx, h); err != nil {
				t.Errorf("stack %d: Destroy = %v", i, err)
			}
			assertNoLeftovers(t, dir)
		})
		if err := tgt.Create(ctx, h); err != nil {
			t.Fatalf("stack %d: Create = %v", i, err)
		}
		hosts, tgts = append(hosts, h), append(tgts, tgt)
	}
	a, _ := tgts[0].Namespace(hosts[0])
	b, _ := tgts[1].Namespace(hosts[1])
	if a == b {
		t.Fatalf("both stacks' web-1 are namespace %s", a)
	}
	listenIn(t, b, netip.MustParseAddr(hosts[1].Address), 8443)
	if err := dialFrom(a, netip.MustParseAddr(hosts[1].Address), 8443); err == nil {
		t.Fatalf("stack 0's web-1 reaches stack 1's")
	}
}

// TestNeedsRoot runs CheckRange as nobody, in a copy of this test binary.
func TestNeedsRoot(t *testing.T) {
	if os.Getenv("NETNS_TEST_CHILD") == "1" {
		err := Target{}.CheckRange("dmz", netip.MustParsePrefix("10.231.31.0/24"))
		var ce *crmplan.Error
		if errors.As(err, &ce) {
			fmt.Printf("code=%s hint=%s msg=%s\n", ce.Code, ce.Hint, ce.Error())
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot switch to nobody")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "netns.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	cmd := exec.Command(bin, "-test.run=^TestNeedsRoot$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NETNS_TEST_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"code=invalid", "needs root and network namespaces", "not root", "hint=sudo crmplan apply --isolate"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("CheckRange as nobody says %q, want %q in it", out, want)
		}
	}
}

// assertRoutedLocally checks how this machine routes addr: into the
// stack's uplink when reachable, else unreachable; never through the
// default route's interface.
func assertRoutedLocally(t *testing.T, tgt Target, hostsDir string, addr netip.Addr, reachable bool) {
	t.Helper()
	s, err := stackOf(hostsDir)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := netlink.RouteGet(addr.AsSlice())
	if !reachable {
		// The stack's unreachable route, not the test's blackhole (EINVAL).
		if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
			t.Fatalf("route to %s = %v, %v; want the stack's unreachable route", addr, got, err)
		}
		return
	}
	if err != nil || len(got) == 0 {
		t.Fatalf("route to %s = %v, %v", addr, got, err)
	}
	up, err := netlink.LinkByName(s.uplink())
	if err != nil {
		t.Fatal(err)
	}
	if got[0].LinkIndex != up.Attrs().Index {
		t.Fatalf("route to %s leaves through interface %d, want the uplink %s (%d)", addr, got[0].LinkIndex, s.uplink(), up.Attrs().Index)
	}
	for _, d := range routes {
		if p, ok := prefixOf(d.Dst); (!ok || p.Bits() == 0) && d.LinkIndex == got[0].LinkIndex {
			t.Fatalf("route to %s is the default route's interface", addr)
		}
	}
}

// assertNoLeftovers checks that nothing of the stack is left: namespaces,
// the uplink, routes. What is left it removes, so that a failing test
// leaves this machine as it found it.
func assertNoLeftovers(t *testing.T, hostsDir string) {
	t.Helper()
	s, err := stackOf(hostsDir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := handle("")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	left, _ := namespaces(s.router())
	_, uplinkErr := h.LinkByName(s.uplink())
	own, _ := s.routes(h)
	if len(left) == 0 && uplinkErr != nil && len(own) == 0 {
		return
	}
	t.Errorf("left behind: namespaces %v, uplink %s: %v, routes %v", left, s.uplink(), uplinkErr == nil, own)
	if err := (Target{Stack: hostsDir}).DestroyStack(context.Background()); err != nil {
		t.Errorf("removing them: %v", err)
	}
}

// counting is a listener that accepts and counts connections.
type counting struct {
	l net.Listener
	n chan struct{}
}

func (c *counting) accepted() int { return len(c.n) }

func (c *counting) waitFor(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); c.accepted() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("listener %s accepted %d connections, want %d", c.l.Addr(), c.accepted(), n)
		}
	}
}

// listenIn listens on addr:port inside the named namespace: the socket is
// made there and stays there, whichever thread accepts on it.
func listenIn(t *testing.T, ns string, addr netip.Addr, port int) *counting {
	t.Helper()
	var l net.Listener
	err := inNamespace(ns, func() (err error) {
		l, err = net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	c := &counting{l: l, n: make(chan struct{}, 100)}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.n <- struct{}{}
			conn.Close()
		}
	}()
	return c
}

// dialFrom connects from inside the named namespace ("" is this
// machine's own) and returns the connect's error.
func dialFrom(ns string, addr netip.Addr, port int) error {
	dial := func() error {
		conn, err := net.DialTimeout("tcp", netip.AddrPortFrom(addr, uint16(port)).String(), 2*time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if ns == "" {
		return dial()
	}
	return inNamespace(ns, dial)
}
