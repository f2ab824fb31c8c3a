package ssh

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/renameio/v2"
	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan"
)

// Machine is one existing machine of the inventory, the host of the
// topology it is named for.
type Machine struct {
	Name    string
	Address string // an IP address or a DNS name: where SSH dials it
	// Private is the machine's address inside its own network, when
	// that is not Address: what its roles bind and the other machines
	// (the mesh's nodes dialling the relay among them) reach it at. An
	// EC2 instance in a public subnet is dialled from outside at its
	// public address, which AWS translates: its interface has only the
	// private one. Empty: Address.
	Private string
	User    string // default root
	Port    int    // default 22
	// Via names the machine this one is reached through (ProxyJump), for
	// LAN machines only the DMZ one can reach.
	Via string
	// Dir is the install directory, where everything crmplan puts on the
	// machine lives; empty: DefaultDir.
	Dir string
}

// Inventory maps every host of a topology to a machine, and says how to
// log in to them.
type Inventory struct {
	File     string
	Machines map[string]Machine
	// Key is the private key file; empty: the agent at SSH_AUTH_SOCK.
	Key string
	// KnownHosts is the known_hosts file every host key is checked
	// against: an unknown or changed key is refused.
	KnownHosts string
	lines      map[string]int
}

// DefaultDir is a host's install directory unless the inventory says
// otherwise: machines that share a filesystem never collide.
func DefaultDir(stack, host string) string {
	return filepath.Join("/opt/crmplan", stack, host)
}

// Inside is the address the machine's own network knows it by: Private,
// or else Address.
func (m Machine) Inside() string { return cmp.Or(m.Private, m.Address) }

// Dir is the install directory of host on its machine.
func (inv *Inventory) Dir(stack, host string) string {
	if m, ok := inv.Machines[host]; ok && m.Dir != "" {
		return m.Dir
	}
	return DefaultDir(stack, host)
}

// LoadInventory reads and checks an inventory file.
func LoadInventory(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, crmplan.Errorf(crmplan.EINVALID, "inventory file %s does not exist", path).In("--inventory").
			Try("write one like:\n  hosts:\n    web-1: {address: 10.20.1.10, user: root}\n  ssh:\n    known_hosts: ~/.ssh/known_hosts")
	}
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "inventory: %w", err).In("--inventory")
	}
	return ParseInventory(path, data)
}

var hostKeys = []string{"address", "private", "user", "port", "via", "dir"}

// ParseInventory decodes data, the inventory file named file. Relative
// paths in it are relative to the file's directory, and ~ is the user's
// home.
func ParseInventory(file string, data []byte) (*Inventory, error) {
	inv := &Inventory{File: file, Machines: map[string]Machine{}, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, inv.syntaxError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, inv.errorf(0, "", "write hosts: and ssh: sections (crmplan apply --help shows an example)", "the inventory is empty")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, inv.errorf(root.Line, "", "hosts: and ssh: at the top level", "want a mapping with hosts: and ssh:")
	}
	var hosts, ssh *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "hosts":
			hosts = v
		case "ssh":
			ssh = v
		default:
			return nil, inv.errorf(k.Line, k.Value, "remove it: the top level has hosts: and ssh:", "unknown key %q", k.Value)
		}
	}
	if hosts == nil || hosts.Kind != yaml.MappingNode || len(hosts.Content) == 0 {
		return nil, inv.errorf(lineOf(hosts, root), "hosts", "hosts:\n    web-1: {address: 10.20.1.10, user: root}", "no machines: want a mapping of host name to machine")
	}
	for i := 0; i+1 < len(hosts.Content); i += 2 {
		k, v := hosts.Content[i], hosts.Content[i+1]
		m, err := inv.machine(k, v)
		if err != nil {
			return nil, err
		}
		inv.Machines[m.Name] = m
	}
	if err := inv.auth(ssh, root); err != nil {
		return nil, err
	}
	return inv, inv.checkVias()
}

func lineOf(n, parent *yaml.Node) int {
	if n != nil {
		return n.Line
	}
	return parent.Line
}

var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// machine decodes hosts.NAME.
func (inv *Inventory) machine(k, v *yaml.Node) (Machine, error) {
	path := "hosts." + k.Value
	m := Machine{Name: k.Value, User: "root", Port: 22}
	inv.lines[m.Name] = k.Line
	if !hostName.MatchString(m.Name) {
		return m, inv.errorf(k.Line, path, "the host's name in the plan, e.g. web-1", "%q is no host name", m.Name)
	}
	if _, dup := inv.Machines[m.Name]; dup {
		return m, inv.errorf(k.Line, path, "keep one entry per host", "host %s is listed twice", m.Name)
	}
	if v.Kind != yaml.MappingNode {
		return m, inv.errorf(v.Line, path, m.Name+": {address: 10.20.1.10, user: root}", "want a mapping with address:")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		fk, fv := v.Content[i], v.Content[i+1]
		fpath := path + "." + fk.Value
		if fv.Kind != yaml.ScalarNode {
			return m, inv.errorf(fv.Line, fpath, "a plain value", "want a single value")
		}
		switch fk.Value {
		case "address":
			m.Address = fv.Value
			if m.Address == "" || strings.ContainsAny(m.Address, " /:@") && net.ParseIP(m.Address) == nil {
				return m, inv.errorf(fv.Line, fpath, "address: 10.20.1.10 (an IP address or a DNS name)", "%q is no address", fv.Value)
			}
		case "private":
			a, err := netip.ParseAddr(fv.Value)
			if err != nil {
				return m, inv.errorf(fv.Line, fpath, "private: 10.40.1.10 (the IP address its own network knows it by)", "%q is no IP address", fv.Value)
			}
			m.Private = a.String()
		case "user":
			m.User = fv.Value
			if m.User == "" || strings.ContainsAny(m.User, " @:/") {
				return m, inv.errorf(fv.Line, fpath, "user: root", "%q is no user name", fv.Value)
			}
		case "port":
			p, err := strconv.Atoi(fv.Value)
			if err != nil || p < 1 || p > 65535 {
				return m, inv.errorf(fv.Line, fpath, "port: 22", "%q is no TCP port (1-65535)", fv.Value)
			}
			m.Port = p
		case "via":
			m.Via = fv.Value
		case "dir":
			m.Dir = fv.Value
			if !filepath.IsAbs(m.Dir) || filepath.Clean(m.Dir) == "/" {
				return m, inv.errorf(fv.Line, fpath, "dir: /opt/crmplan/"+m.Name+" (an absolute directory crmplan may own)", "%q is not an absolute directory below /", fv.Value)
			}
			m.Dir = filepath.Clean(m.Dir)
		default:
			return m, inv.errorf(fk.Line, fpath, fmt.Sprintf("one of %s", strings.Join(hostKeys, ", ")), "unknown key %q", fk.Value)
		}
	}
	if m.Address == "" {
		return m, inv.errorf(k.Line, path+".address", m.Name+": {address: 10.20.1.10, user: root}", "host %s has no address", m.Name)
	}
	return m, nil
}

// auth decodes ssh:.
func (inv *Inventory) auth(n, root *yaml.Node) error {
	hint := "ssh:\n    key: ~/.ssh/id_ed25519\n    known_hosts: ~/.ssh/known_hosts"
	if n == nil || n.Kind != yaml.MappingNode {
		return inv.errorf(lineOf(n, root), "ssh", hint, "no ssh: section: known_hosts is required (host keys are always checked)")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := "ssh." + k.Value
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return inv.errorf(v.Line, path, hint, "want a file name")
		}
		p, err := inv.path(v.Value)
		if err != nil {
			return inv.errorf(v.Line, path, hint, "%v", err)
		}
		switch k.Value {
		case "key":
			inv.Key = p
		case "known_hosts":
			inv.KnownHosts = p
		default:
			return inv.errorf(k.Line, path, "key: or known_hosts:", "unknown key %q", k.Value)
		}
	}
	if inv.KnownHosts == "" {
		return inv.errorf(n.Line, "ssh.known_hosts", "known_hosts: ~/.ssh/known_hosts (ssh-keyscan ADDRESS >> it, after checking the keys)",
			"known_hosts is required: unknown host keys are refused")
	}
	return nil
}

// path expands ~ and makes p relative to the inventory's directory.
func (inv *Inventory) path(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
	}
	if filepath.IsAbs(p) {
		return p, nil
	}
	return filepath.Join(filepath.Dir(inv.File), p), nil
}

// checkVias refuses a via that names no machine, or a loop of them.
func (inv *Inventory) checkVias() error {
	for _, name := range inv.names() {
		m := inv.Machines[name]
		if m.Via == "" {
			continue
		}
		if _, ok := inv.Machines[m.Via]; !ok {
			return inv.errorf(inv.lines[name], "hosts."+name+".via", fmt.Sprintf("via: one of %s (the DMZ host it is reached through)", strings.Join(inv.names(), ", ")),
				"host %s is reached via %q, which is no machine of the inventory", name, m.Via)
		}
		if _, err := inv.Route(name); err != nil {
			return err
		}
	}
	return nil
}

// Route is the chain of machines that leads to host: the first is dialled
// directly, each next one through the one before, the last is host's.
func (inv *Inventory) Route(host string) ([]Machine, error) {
	var chain []Machine
	seen := map[string]bool{}
	for name := host; name != ""; name = inv.Machines[name].Via {
		m, ok := inv.Machines[name]
		if !ok {
			return nil, crmplan.Errorf(crmplan.EINVALID, "host %s has no machine in the inventory", name).In(inv.File).
				Try("add to %s:\n  hosts:\n    %s: {address: ADDRESS, user: root}", inv.File, name)
		}
		if seen[name] {
			return nil, inv.errorf(inv.lines[host], "hosts."+host+".via", "end the chain at a machine reached directly (no via:)", "host %s is reached through a loop of via:", host)
		}
		seen[name] = true
		chain = append([]Machine{m}, chain...)
	}
	return chain, nil
}

// Check refuses an inventory that lacks a machine for one of hosts, or
// has one for no host.
func (inv *Inventory) Check(hosts []string) error {
	want := map[string]bool{}
	for _, h := range hosts {
		want[h] = true
		if _, ok := inv.Machines[h]; !ok {
			return crmplan.Errorf(crmplan.EINVALID, "host %s of the plan has no machine", h).In(inv.File).
				Try("add to %s:\n  hosts:\n    %s: {address: ADDRESS, user: root}", inv.File, h)
		}
	}
	for _, name := range inv.names() {
		if !want[name] && !inv.isVia(name) {
			return inv.errorf(inv.lines[name], "hosts."+name, "remove it, or name a host of the plan", "%s is no host of the plan", name)
		}
	}
	return nil
}

func (inv *Inventory) isVia(name string) bool {
	for _, m := range inv.Machines {
		if m.Via == name {
			return true
		}
	}
	return false
}

func (inv *Inventory) names() []string {
	names := make([]string, 0, len(inv.Machines))
	for n := range inv.Machines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (inv *Inventory) errorf(line int, path, hint, format string, args ...any) error {
	at := inv.File
	if line > 0 {
		at = fmt.Sprintf("%s:%d", inv.File, line)
	}
	if path != "" {
		at += ": " + path
	}
	return crmplan.Errorf(crmplan.EINVALID, format, args...).In(at).Try("%s", hint)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (inv *Inventory) syntaxError(err error) error {
	msg, line := err.Error(), 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return inv.errorf(line, "", "fix the YAML syntax on that line", "not valid YAML: %s", msg)
}

// Save writes inv to path as JSON (its paths already resolved), for the
// commands and the provider process after apply.
func (inv *Inventory) Save(path string) error {
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(path, append(b, '\n'), 0o600)
}

// LoadSaved reads what Save wrote; ok is false when there is no file.
func LoadSaved(path string) (inv *Inventory, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	inv = &Inventory{}
	if err := json.Unmarshal(b, inv); err != nil {
		return nil, false, crmplan.Errorf(crmplan.EINTERNAL, "%s is damaged: %w", path, err).
			Try("crmplan apply --target ssh --inventory machines.yaml --plan PLAN.yaml")
	}
	return inv, true, nil
}

// Encode writes inv in the inventory file's format, one flow mapping per
// machine as the issue writes them, which ParseInventory reads back:
// machines reached directly first, then those reached through another,
// each by name. Key and KnownHosts are written as they are (a ~ stays a
// ~); head, when set, is a comment above everything.
func (inv *Inventory) Encode(head string) ([]byte, error) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }
	hosts := &yaml.Node{Kind: yaml.MappingNode}
	names := inv.names()
	sort.SliceStable(names, func(i, j int) bool { return inv.Machines[names[i]].Via == "" && inv.Machines[names[j]].Via != "" })
	for _, name := range names {
		m := inv.Machines[name]
		v := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		add := func(k, val string) { v.Content = append(v.Content, str(k), str(val)) }
		add("address", m.Address)
		if m.Private != "" {
			add("private", m.Private)
		}
		add("user", cmp.Or(m.User, "root"))
		if m.Port != 0 && m.Port != 22 {
			add("port", strconv.Itoa(m.Port))
		}
		if m.Via != "" {
			add("via", m.Via)
		}
		if m.Dir != "" {
			add("dir", m.Dir)
		}
		hosts.Content = append(hosts.Content, str(name), v)
	}
	auth := &yaml.Node{Kind: yaml.MappingNode}
	if inv.Key != "" {
		auth.Content = append(auth.Content, str("key"), str(inv.Key))
	}
	auth.Content = append(auth.Content, str("known_hosts"), str(inv.KnownHosts))
	root := &yaml.Node{Kind: yaml.MappingNode, HeadComment: head, Content: []*yaml.Node{str("hosts"), hosts, str("ssh"), auth}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
