package vpn

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// Peer is one other end of a tunnel.
type Peer struct {
	PublicKey Key
	// AllowedIPs are the addresses it may send from, and that are routed
	// to it: the server gives a client its one tunnel address; a client
	// gives the server what it may reach through it.
	AllowedIPs []netip.Prefix
	// Endpoint is where it listens; zero when it comes to us (a client).
	Endpoint netip.AddrPort
	// Keepalive in seconds (0: none) keeps a client's NAT mapping open.
	Keepalive int
}

// Config is one WireGuard interface.
type Config struct {
	Interface  string // a tun device of that name is made
	PrivateKey Key
	Address    netip.Prefix // the interface's address; its range is routed into the tunnel
	ListenPort int          // 0: any free port (a client)
	Peers      []Peer
	// Outer is the network namespace the encrypted UDP goes through, as
	// a kernel WireGuard interface moved into a namespace keeps its socket
	// in the one it was made in. Unset (0, which is stdin and never a
	// namespace, or vns.None()): the namespace of the thread that calls Open.
	Outer vns.NsHandle
	Log   *slog.Logger
}

// Tunnel is an open WireGuard interface.
type Tunnel struct {
	dev  *device.Device
	name string
}

// mtu leaves room for WireGuard's 80 bytes of IPv6 and UDP headers within
// a 1500-byte path, as wg-quick does.
const mtu = 1420

// Open makes cfg's tun device in the namespace of the calling thread,
// configures it and brings it up; its UDP sockets are opened in cfg.Outer.
func Open(cfg Config) (*Tunnel, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	outer := cfg.Outer
	if outer <= 0 {
		here, err := vns.Get()
		if err != nil {
			return nil, fmt.Errorf("this thread's network namespace: %w", err)
		}
		outer = here
	}
	td, err := tun.CreateTUN(cfg.Interface, mtu)
	if err != nil {
		return nil, fmt.Errorf("tun device %s: %w (Try: run as root where /dev/net/tun exists)", cfg.Interface, err)
	}
	log := cfg.Log.With("interface", cfg.Interface)
	dev := device.NewDevice(td, nsBind{Bind: conn.NewDefaultBind(), ns: outer}, &device.Logger{
		Verbosef: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) },
		Errorf:   func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) },
	})
	t := &Tunnel{dev: dev, name: cfg.Interface}
	if err := dev.IpcSet(uapi(cfg)); err != nil {
		t.Close()
		return nil, fmt.Errorf("configure %s: %w", cfg.Interface, err)
	}
	if err := t.route(cfg); err != nil {
		t.Close()
		return nil, err
	}
	if err := dev.Up(); err != nil {
		t.Close()
		return nil, fmt.Errorf("bring %s up: %w", cfg.Interface, err)
	}
	return t, nil
}

// uapi is cfg in wireguard-go's configuration protocol (the one `wg set`
// speaks over the UAPI socket).
func uapi(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "private_key=%s\nlisten_port=%d\nreplace_peers=true\n", cfg.PrivateKey.hex(), cfg.ListenPort)
	for _, p := range cfg.Peers {
		fmt.Fprintf(&b, "public_key=%s\nreplace_allowed_ips=true\n", p.PublicKey.hex())
		if p.Endpoint.IsValid() {
			fmt.Fprintf(&b, "endpoint=%s\n", p.Endpoint)
		}
		if p.Keepalive > 0 {
			fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", p.Keepalive)
		}
		for _, a := range p.AllowedIPs {
			fmt.Fprintf(&b, "allowed_ip=%s\n", a.Masked())
		}
	}
	return b.String()
}

// route gives the interface its address and routes the peers' allowed
// ranges into it, in the calling thread's namespace.
func (t *Tunnel) route(cfg Config) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(cfg.Interface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", cfg.Interface, err)
	}
	if err := h.AddrReplace(link, &netlink.Addr{IPNet: ipnet(cfg.Address)}); err != nil {
		return fmt.Errorf("interface %s: address %s: %w", cfg.Interface, cfg.Address, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("interface %s: %w", cfg.Interface, err)
	}
	for _, p := range cfg.Peers {
		for _, a := range p.AllowedIPs {
			if cfg.Address.Masked().Contains(a.Addr()) && a.Bits() >= cfg.Address.Bits() {
				continue // the address's own route covers it
			}
			r := netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipnet(a.Masked())}
			if err := h.RouteReplace(&r); err != nil {
				return fmt.Errorf("interface %s: route %s: %w", cfg.Interface, a, err)
			}
		}
	}
	return nil
}

// Close removes the interface (its routes go with it).
func (t *Tunnel) Close() { t.dev.Close() }

// Wait is closed when the tunnel is.
func (t *Tunnel) Wait() <-chan struct{} { return t.dev.Wait() }

// nsBind opens wireguard-go's UDP sockets in namespace ns, whichever
// thread asks: the device reopens them from its own goroutines when the
// interface comes up.
type nsBind struct {
	conn.Bind
	ns vns.NsHandle
}

func (b nsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = InNamespace(b.ns, func() error {
		var e error
		fns, actual, e = b.Bind.Open(port)
		return e
	})
	return fns, actual, err
}

// InNamespace runs fn on a thread of its own inside ns; the thread ends
// with fn, so the namespace never leaks into the rest of the program.
func InNamespace(ns vns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is thrown away
		if err := vns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// inNamedNamespace says whether the calling thread is in a named network
// namespace (one bind-mounted under /run/netns, as `ip netns add` and
// crmplan's isolated target make them): never this machine's own.
// Whether it is pid 1's cannot be asked where /proc/1 is not ours to read.
func inNamedNamespace() (bool, error) {
	here, err := vns.Get()
	if err != nil {
		return false, err
	}
	defer here.Close()
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for _, e := range entries {
		ns, err := vns.GetFromPath(filepath.Join(netnsDir, e.Name()))
		if err != nil {
			continue
		}
		same := here.Equal(ns)
		ns.Close()
		if same {
			return true, nil
		}
	}
	return false, nil
}

const netnsDir = "/run/netns"

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

var errNotNamed = errors.New("the VPN endpoint runs only in a named network namespace of its own (" + netnsDir + "), never in this machine's")
