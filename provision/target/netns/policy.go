package netns

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/crmplan/crmplan"
)

// Rule allows new TCP connections (UDP flows when Proto is "udp") from
// From to To's Port; replies to them pass as well. Everything else that
// crosses the router is refused.
type Rule struct {
	// From is where connections may come from: a zone's range, one host's
	// address as a /32, or, when zero (netip.Prefix{}), this machine's own
	// namespace, which reaches only the outside zones' hosts.
	From netip.Prefix
	To   netip.Addr
	Port uint16
	// Proto is "udp" for a UDP port (the VPN endpoint's WireGuard); ""
	// is TCP, as every role's service.
	Proto string `json:",omitempty"`
}

func (r Rule) String() string {
	from := "machine"
	if r.From.IsValid() {
		from = r.From.String()
	}
	if r.Proto != "" {
		return fmt.Sprintf("%s -> %s:%d/%s", from, r.To, r.Port, r.Proto)
	}
	return fmt.Sprintf("%s -> %s:%d", from, r.To, r.Port)
}

func (r Rule) check() error {
	if (r.From.IsValid() && !r.From.Addr().Is4()) || !r.To.Is4() || r.Port == 0 || (r.Proto != "" && r.Proto != "udp") {
		return crmplan.Errorf(crmplan.EINVALID, "policy rule %s: want an IPv4 source range (or this machine), an IPv4 destination, a port, and TCP or udp", r).
			In("policy")
	}
	return nil
}

func (r Rule) l4() byte {
	if r.Proto == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

const tableName = "crmplan"

// enforce replaces the router's nftables table with one that allows rules
// and replies to them, in one netlink batch: the kernel swaps the whole
// table at once, so no packet ever meets half a policy.
func (s stack) enforce(rules []Rule) error {
	for _, r := range rules {
		if err := r.check(); err != nil {
			return err
		}
	}
	fd, err := vns.GetFromPath(nsPath(s.router()))
	if err != nil {
		return fmt.Errorf("namespace %s: %w", s.router(), err)
	}
	defer fd.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return err
	}
	table := &nftables.Table{Name: tableName, Family: nftables.TableFamilyINet}
	// Add, delete, add: `nft -f`'s idiom for "replace, whether or not it is
	// there".
	c.AddTable(table)
	c.DelTable(table)
	c.AddTable(table)
	drop := nftables.ChainPolicyDrop
	forward := c.AddChain(&nftables.Chain{Name: "forward", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	input := c.AddChain(&nftables.Chain{Name: "input", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	for _, chain := range []*nftables.Chain{input, forward} {
		replies := append(ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), accept())
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: replies})
	}
	machine, _ := s.uplinkAddrs()
	for _, r := range rules {
		from := r.From
		if !from.IsValid() {
			from = netip.PrefixFrom(machine.Addr(), 32)
		}
		var e []expr.Any
		e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
		e = append(e, ipMatch(12, from)...)
		e = append(e, ipMatch(16, netip.PrefixFrom(r.To, 32))...)
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.l4()}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Port)})
		e = append(e, ctState(expr.CtStateBitNEW)...)
		c.AddRule(&nftables.Rule{Table: table, Chain: forward, Exprs: append(e, accept())})
	}
	// Refuse what is not allowed at once, as a firewall that says so:
	// a connect fails with "no route to host" rather than waiting for a
	// timeout, and a probe tells a denied port from a closed one
	// ("connection refused").
	c.AddRule(&nftables.Rule{Table: table, Chain: forward, Exprs: []expr.Any{
		&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s in %s: %w", tableName, s.router(), err)
	}
	return nil
}

// hasPolicy says whether the router has its nftables table.
func (s stack) hasPolicy() bool {
	fd, err := vns.GetFromPath(nsPath(s.router()))
	if err != nil {
		return false
	}
	defer fd.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return false
	}
	_, err = c.ListTableOfFamily(tableName, nftables.TableFamilyINet)
	return err == nil
}

// ipMatch matches the IPv4 address at offset (12 source, 16 destination)
// of the network header against p.
func ipMatch(offset uint32, p netip.Prefix) []expr.Any {
	m := [4]byte{}
	for i := range p.Bits() {
		m[i/8] |= 0x80 >> (i % 8)
	}
	network := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: network[:]},
	}
}

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
}

func accept() *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictAccept} }
