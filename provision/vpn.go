package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/app/vpn"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// vpnState is a stack's VPN access (seed 002's ARVPN): the endpoint's
// private key and the remote users it takes, kept in the stack dir (0600)
// where crmplan vpn add-peer adds a user and apply gives them to the
// endpoint. A user's private key is printed once and kept nowhere.
type vpnState struct {
	Key     vpn.Key      `json:"key"`
	Clients []vpn.Client `json:"clients"`
}

func vpnPath(p stackdir.Paths) string { return filepath.Join(p.StackDir(), "vpn.json") }

// loadVPN reads the stack's VPN state, made with a fresh endpoint key the
// first time.
func loadVPN(p stackdir.Paths) (vpnState, error) {
	var s vpnState
	b, err := os.ReadFile(vpnPath(p))
	if errors.Is(err, fs.ErrNotExist) {
		s.Key, err = vpn.GenerateKey()
		if err != nil {
			return s, err
		}
		return s, saveVPN(p, s)
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, crmplan.Errorf(crmplan.EINTERNAL, "%s is damaged: %w", vpnPath(p), err)
	}
	return s, nil
}

func saveVPN(p stackdir.Paths, s vpnState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.StackDir(), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(vpnPath(p), b, 0o600)
}

// vpnSkipped says why a target other than the isolated one leaves the vpn
// hosts out.
const vpnSkipped = "the VPN endpoint runs only in a network namespace of its own, on the isolated target (crmplan apply --isolate)"

// vpnAddress is the endpoint's tunnel address: the range's first; its
// users have the next ones.
var vpnAddress = netip.PrefixFrom(vpn.Range.Addr().Next(), vpn.Range.Bits())

// vpnAllowed are the services the vpn role's links reach: the entry role
// (topology.DefaultLinks), nothing else.
func vpnAllowed(l Layout) []vpn.Allow {
	var out []vpn.Allow
	for _, link := range l.Links {
		if link.From != topology.RoleVPN {
			continue
		}
		for _, h := range l.ByRole(link.To) {
			out = append(out, vpn.Allow{Addr: netip.MustParseAddr(h.Address), Port: uint16(link.Port)})
		}
	}
	return out
}

// vpnServices runs the VPN endpoints (crm vpn) with the stack's users.
func (d *deployer) vpnServices() error {
	hosts := d.l.ByRole(topology.RoleVPN)
	if len(hosts) == 0 {
		return nil
	}
	s, err := loadVPN(stackdir.Paths{StateDir: d.l.StateDir, Stack: d.l.Stack})
	if err != nil {
		return err
	}
	args := []string{"--address", vpnAddress.String()}
	for _, c := range s.Clients {
		args = append(args, "--client", fmt.Sprintf("%s %s %s", c.Name, c.Address, c.PublicKey))
	}
	for _, a := range vpnAllowed(d.l) {
		args = append(args, "--allow", a.String())
	}
	env := pulumi.StringMap{"CRM_VPN_KEY": pulumi.ToSecret(pulumi.String(s.Key.String())).(pulumi.StringOutput)}
	for _, h := range hosts {
		if _, err := d.service(h, args, env); err != nil {
			return err
		}
	}
	return nil
}

// VPNPeer is a remote user's WireGuard configuration.
type VPNPeer struct {
	Name       string         `json:"name"`
	PrivateKey vpn.Key        `json:"private_key"`
	Address    netip.Addr     `json:"address"`
	Server     vpn.Key        `json:"server_public_key"`
	Endpoint   netip.AddrPort `json:"endpoint"`
	AllowedIPs []netip.Prefix `json:"allowed_ips"`
	Host       string         `json:"endpoint_host"`
}

// WriteConfig writes p as a wg-quick configuration file.
func (p VPNPeer) WriteConfig(w io.Writer) error {
	ips := make([]string, len(p.AllowedIPs))
	for i, a := range p.AllowedIPs {
		ips[i] = a.String()
	}
	_, err := fmt.Fprintf(w, "# %s: remote access through %s (crmplan vpn add-peer); keep it secret\n[Interface]\nPrivateKey = %s\nAddress = %s/32\n\n[Peer]\nPublicKey = %s\nEndpoint = %s\nAllowedIPs = %s\nPersistentKeepalive = 25\n",
		p.Name, p.Host, p.PrivateKey, p.Address, p.Server, p.Endpoint, strings.Join(ips, ", "))
	return err
}

// AddVPNPeer gives remote user name a fresh key and the next tunnel
// address, records its public key for the stack's VPN endpoint (the next
// apply gives it to the endpoint), and returns its configuration.
func AddVPNPeer(r Request, name string) (VPNPeer, error) {
	var p VPNPeer
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return p, crmplan.Errorf(crmplan.EINVALID, "a peer's name is one word, got %q", name).In("NAME").Try("crmplan vpn add-peer alice-laptop")
	}
	l, err := r.layout()
	if err != nil {
		return p, err
	}
	hosts := l.ByRole(topology.RoleVPN)
	if len(hosts) == 0 {
		for _, s := range l.Skipped {
			return p, crmplan.Errorf(crmplan.EINVALID, "%s: %s", s.Host, s.Why).Try("crmplan vpn add-peer --isolate %s", name)
		}
		return p, crmplan.Errorf(crmplan.EINVALID, "stack %s has no vpn tier", r.Stack).In("tiers").
			Try("- {role: vpn, zone: dmz}   # in the plan's tiers")
	}
	paths := r.paths()
	s, err := loadVPN(paths)
	if err != nil {
		return p, err
	}
	used := map[netip.Addr]bool{vpnAddress.Addr(): true}
	for _, c := range s.Clients {
		if c.Name == name {
			return p, crmplan.Errorf(crmplan.ECONFLICT, "peer %s exists already", name).In("NAME").Try("crmplan vpn add-peer %s-2", name)
		}
		used[c.Address] = true
	}
	addr := vpnAddress.Addr().Next()
	for used[addr] {
		addr = addr.Next()
	}
	if !vpn.Range.Contains(addr) {
		return p, crmplan.Errorf(crmplan.ECONFLICT, "no tunnel address left in %s", vpn.Range)
	}
	key, err := vpn.GenerateKey()
	if err != nil {
		return p, err
	}
	s.Clients = append(s.Clients, vpn.Client{Name: name, PublicKey: key.Public(), Address: addr})
	if err := saveVPN(paths, s); err != nil {
		return p, err
	}
	h := hosts[0]
	p = VPNPeer{Name: name, PrivateKey: key, Address: addr, Server: s.Key.Public(), Host: h.Name,
		Endpoint: netip.AddrPortFrom(netip.MustParseAddr(h.Address), uint16(h.Port))}
	for _, a := range vpnAllowed(l) {
		p.AllowedIPs = append(p.AllowedIPs, netip.PrefixFrom(a.Addr, 32))
	}
	return p, nil
}
