package vpn

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Range is reserved for the VPN: tunnel addresses (the endpoint has the
// first, its clients the next ones) and nothing else.
var Range = netip.MustParsePrefix("10.238.0.0/16")

// DefaultPort is WireGuard's usual UDP port.
const DefaultPort = 51820

// Client is a remote user's laptop: its key and its one tunnel address.
type Client struct {
	Name      string     `json:"name"`
	PublicKey Key        `json:"public_key"`
	Address   netip.Addr `json:"address"`
}

// Allow is a TCP service tunnel clients may connect to: what the plan's
// links give the vpn role, nothing more.
type Allow struct {
	Addr netip.Addr
	Port uint16
}

func (a Allow) String() string { return netip.AddrPortFrom(a.Addr, a.Port).String() }

// ServerConfig is the VPN endpoint.
type ServerConfig struct {
	Interface  string
	PrivateKey Key
	Address    netip.Prefix // the endpoint's tunnel address in Range, e.g. 10.238.0.1/16
	Port       int
	Clients    []Client
	Allow      []Allow
	Log        *slog.Logger
}

// Serve opens the endpoint's tunnel in the calling thread's namespace,
// which must be a namespace of its own (the host's): it turns forwarding
// on there and replaces the namespace's nftables table "crmvpn" with one
// that lets tunnel clients open connections to cfg.Allow only, sent on
// from the endpoint's own address (masquerade), so that the network's own
// policy sees the vpn host as the source, as the topology's links say.
func Serve(cfg ServerConfig) (*Tunnel, error) {
	if named, err := inNamedNamespace(); err != nil || !named {
		if err == nil {
			err = errNotNamed
		}
		return nil, fmt.Errorf("%w (Try: crmplan apply --isolate, which gives every host its own namespace)", err)
	}
	if !Range.Contains(cfg.Address.Addr()) {
		return nil, fmt.Errorf("tunnel address %s is outside the VPN's range %s", cfg.Address, Range)
	}
	peers := make([]Peer, 0, len(cfg.Clients))
	for _, c := range cfg.Clients {
		if !cfg.Address.Masked().Contains(c.Address) || c.Address == cfg.Address.Addr() {
			return nil, fmt.Errorf("client %s: tunnel address %s is not a client's in %s", c.Name, c.Address, cfg.Address.Masked())
		}
		peers = append(peers, Peer{PublicKey: c.PublicKey, AllowedIPs: []netip.Prefix{netip.PrefixFrom(c.Address, 32)}})
	}
	if err := firewall(cfg.Interface, cfg.Address.Masked(), cfg.Allow); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return nil, fmt.Errorf("forwarding: %w", err)
	}
	return Open(Config{Interface: cfg.Interface, PrivateKey: cfg.PrivateKey, Address: cfg.Address, ListenPort: cfg.Port,
		Peers: peers, Log: cfg.Log})
}

const tableName = "crmvpn"

// firewall writes the endpoint's table in one batch (the kernel swaps it
// whole): forwarded packets from the tunnel pass only as new TCP
// connections to allow or replies; nothing from the tunnel reaches the
// endpoint's own services; what leaves other than into the tunnel is
// masqueraded.
func firewall(iface string, tunnel netip.Prefix, allow []Allow) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	table := &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}
	c.AddTable(table)
	c.DelTable(table)
	c.AddTable(table)
	drop, accept := nftables.ChainPolicyDrop, nftables.ChainPolicyAccept
	forward := c.AddChain(&nftables.Chain{Name: "forward", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	input := c.AddChain(&nftables.Chain{Name: "input", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})

	replies := ctState(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED)
	c.AddRule(&nftables.Rule{Table: table, Chain: forward, Exprs: append(replies, verdict(expr.VerdictAccept))})
	for _, a := range allow {
		e := append(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, iface), daddr(a.Addr)...)
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(a.Port)})
		c.AddRule(&nftables.Rule{Table: table, Chain: forward, Exprs: append(e, verdict(expr.VerdictAccept))})
	}
	// A client is told at once that a service is not for it.
	c.AddRule(&nftables.Rule{Table: table, Chain: forward, Exprs: append(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, iface),
		&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})})

	c.AddRule(&nftables.Rule{Table: table, Chain: input, Exprs: append(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, iface),
		append(ctState(expr.CtStateBitNEW), verdict(expr.VerdictDrop))...)})

	e := append(ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, iface), saddr(tunnel)...)
	c.AddRule(&nftables.Rule{Table: table, Chain: post, Exprs: append(e, &expr.Masq{})})
	return c.Flush()
}

func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

// ipv4 comes before a match on the network header: the table is inet,
// and an IPv6 header has other fields at those offsets.
func ipv4() []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}}}
}

func daddr(a netip.Addr) []expr.Any {
	b := a.As4()
	return append(ipv4(), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]})
}

func saddr(p netip.Prefix) []expr.Any {
	mask := net4Mask(p.Bits())
	b := p.Masked().Addr().As4()
	return append(ipv4(), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]})
}

func net4Mask(bits int) [4]byte {
	var m [4]byte
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

func verdict(k expr.VerdictKind) *expr.Verdict { return &expr.Verdict{Kind: k} }
