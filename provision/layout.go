package provision

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/loopback"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/provision/watchdog"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// LocalHost is one host of the topology as the local target places it.
type LocalHost struct {
	topology.Host
	CIDR string // its zone's loopback range
	Dir  string
}

// addr is the host's host:port, where its service listens; "" for none.
func (h *LocalHost) addr() string {
	if h == nil {
		return ""
	}
	return net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
}

// name is the host's name; "" for none.
func (h *LocalHost) name() string {
	if h == nil {
		return ""
	}
	return h.Name
}

// URL is the host's HTTP base URL (for crm roles).
func (h LocalHost) URL() string { return fmt.Sprintf("http://%s:%d", h.Address, h.Port) }

// Skip is a host of the plan that the target leaves out.
type Skip struct {
	Host string `json:"host"`
	Why  string `json:"why"`
	Try  string `json:"try"`
}

// Layout is the local deployment of one topology: where every host lives and
// what runs on it. It is computed without I/O, so tests can check it.
type Layout struct {
	Stack      string
	StateDir   string          // where the stack lives (the mesh finds its files from it)
	Zones      []topology.Zone // the topology's zones: the mesh's relay is the first DMZ host
	Links      []topology.Link // the topology's network policy
	Hosts      []LocalHost
	Primary    *LocalHost  // the db-primary; nil when the topology has none
	Replicas   []LocalHost // db-replica hosts
	Sync       bool        // replicas are synchronous
	PGSettings map[string]string
	// BulkLoad are the primary's settings while crm seed loads the
	// records (postgresql.conf values, capped for the machine).
	BulkLoad    map[string]string
	Records     int64
	Users       int
	Pools       map[topology.Role]int // connections of each db-client tier's servers' pools; a role not in it: crm's default
	Unsupported []string              // hosts whose role has no local process: they get a host, nothing runs on them
	// Skipped are hosts left out on this target, each with why: a vpn
	// endpoint runs only where every host has a network namespace of its
	// own (--isolate), since it makes a tun device, forwards and writes
	// nftables rules in its host's namespace.
	Skipped []Skip
	// Promotion, after crmplan failover, names the replica that is the primary now.
	Promotion *watchdog.Promotion
	// Target names the adapter that makes the hosts (provision/target).
	Target string
	// AutoFailover: a watchdog fails the primary over (failover: automatic).
	AutoFailover bool
	// WebCerts are the web-tier hosts' certificates, by host name: those
	// hosts serve HTTPS (Request.webTLS). None means plain HTTP.
	WebCerts map[string]certKey
	// WebCA is the file of the CA clients of the web tier trust; empty
	// when they trust the system's roots.
	WebCA string
	// InstallPackages lets the hosts' agents apt-get install the Debian
	// packages their roles run from (the ssh target's; packages.go).
	InstallPackages bool
	// RelayPublic is the mesh relay's address the controller dials when
	// it is not its host's (the aws target: its Elastic IP).
	RelayPublic string
	// target is the adapter that made the layout, for apply's checks.
	target target.Target
	// machines are those checks on the ssh target, made while the Pulumi
	// workspace opens (prepare).
	machines *machineChecks
}

// ByRole returns the hosts of role in topology order.
func (l Layout) ByRole(role topology.Role) []LocalHost {
	var out []LocalHost
	for _, h := range l.Hosts {
		if h.Role == role {
			out = append(out, h)
		}
	}
	return out
}

// runsCrm reports whether any host runs the crm binary.
func (l Layout) runsCrm() bool {
	for _, role := range []topology.Role{topology.RoleWeb, topology.RoleFailover, topology.RoleAPI, topology.RoleWorker} {
		if len(l.ByRole(role)) > 0 {
			return true
		}
	}
	return false
}

// WebURL is the presentation tier's URL: the first web (or failover) host.
func (l Layout) WebURL() string {
	for _, role := range []topology.Role{topology.RoleFailover, topology.RoleWeb} {
		if hosts := l.ByRole(role); len(hosts) > 0 {
			if _, ok := l.WebCerts[hosts[0].Name]; ok {
				return fmt.Sprintf("https://%s:%d", hosts[0].Address, hosts[0].Port)
			}
			return hosts[0].URL()
		}
	}
	return ""
}

// LayoutInput is what NewLayout needs.
type LayoutInput struct {
	Paths       stackdir.Paths
	Topology    topology.Topology
	Settings    sizing.PGSettings
	BulkLoad    sizing.BulkLoadSettings
	Replication topology.Replication
	Failover    topology.Failover
	Records     int64
	Users       int
	Pools       map[topology.Role]int
	// Target makes the hosts; nil is the default (loopback).
	Target target.Target
	// Pinned are the addresses an earlier apply gave hosts, by host name.
	Pinned map[string]string
	// HostDir is where a host's files are on its machine; nil: under the
	// stack's state dir (Paths.HostDir).
	HostDir func(host string) string
}

// NewLayout places a topology on this machine: zone ranges (a zone without
// one gets 127.10.N.0/24), addresses and ports, host directories under the
// stack, and PostgreSQL settings.
func NewLayout(in LayoutInput) (Layout, error) {
	l := Layout{Stack: in.Paths.Stack, StateDir: in.Paths.StateDir, Zones: in.Topology.Zones, Links: in.Topology.Links, Sync: in.Replication == topology.Sync, Records: in.Records, Users: in.Users, Pools: in.Pools}
	l.PGSettings = localPGSettings(in.Settings)
	l.BulkLoad = localBulkLoad(in.BulkLoad)
	l.AutoFailover = in.Failover == topology.Automatic
	t := in.Target
	if t == nil {
		t = loopback.Target{}
	}
	l.Target, l.target = t.Name(), t
	hostDir := in.HostDir
	if hostDir == nil {
		hostDir = in.Paths.HostDir
	}
	cidrs, err := zoneRanges(in.Topology.Zones, t)
	if err != nil {
		return l, err
	}
	hosts, err := placeAddresses(in.Topology.Hosts, cidrs, in.Pinned)
	if err != nil {
		return l, err
	}
	for _, h := range hosts {
		if h.Role == topology.RoleVPN && t.Name() != netns.Name {
			l.Skipped = append(l.Skipped, Skip{Host: h.Name, Why: vpnSkipped, Try: "crmplan apply --isolate --plan PLAN.yaml"})
			continue
		}
		if h.Port == 0 {
			h.Port = topology.DefaultPort(h.Role) // hosts of a role share it: each has its own address
		}
		l.Hosts = append(l.Hosts, LocalHost{Host: h, CIDR: cidrs[h.Zone].String(), Dir: hostDir(h.Name)})
		if !h.Role.Known() {
			l.Unsupported = append(l.Unsupported, h.Name)
		}
	}
	return l, l.placeDatabases()
}

// zoneRanges gives every zone its range, refused before anything is made
// when the stack's target cannot place hosts in it.
func zoneRanges(zones []topology.Zone, t target.Target) (map[string]netip.Prefix, error) {
	cidrs := map[string]netip.Prefix{}
	for i, z := range zones {
		cidr := z.CIDR
		if cidr == "" {
			cidr = fmt.Sprintf("127.10.%d.0/24", i+1)
		}
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, crmplan.Errorf(crmplan.EINVALID, "zone %s: range %q: %v", z.Name, cidr, err).
				In("zones").Try("cidr: 127.10.%d.0/24", i+1)
		}
		if err := t.CheckRange(z.Name, prefix); err != nil {
			return nil, err
		}
		cidrs[z.Name] = prefix.Masked()
	}
	return cidrs, nil
}

// placeAddresses gives every host an address in its zone's range. A host
// keeps the address an earlier apply gave it (pinned), so scaling a tier
// out never moves another host, as the topology's sequential numbering
// would. A new host takes the topology's address when it is free, else
// the lowest free one (.0 and .1 stay unused).
func placeAddresses(hosts []topology.Host, cidrs map[string]netip.Prefix, pinned map[string]string) ([]topology.Host, error) {
	out := append([]topology.Host(nil), hosts...)
	placed := make([]bool, len(out))
	taken := map[netip.Addr]string{}
	inZone := func(h topology.Host, s string) (netip.Addr, bool) {
		a, err := netip.ParseAddr(s)
		return a, err == nil && cidrs[h.Zone].Contains(a)
	}
	for i, h := range out {
		if _, ok := cidrs[h.Zone]; !ok {
			return nil, crmplan.Errorf(crmplan.EINVALID, "host %s is in zone %q, which the topology does not define", h.Name, h.Zone).In("host " + h.Name)
		}
		if a, ok := inZone(h, pinned[h.Name]); ok && taken[a] == "" {
			out[i].Address, taken[a], placed[i] = a.String(), h.Name, true
		}
	}
	for i, h := range out {
		if placed[i] {
			continue
		}
		a, ok := inZone(h, h.Address)
		if h.Address != "" && !ok {
			return nil, crmplan.Errorf(crmplan.EINVALID, "address %s of host %s is not in zone %s's range %s", h.Address, h.Name, h.Zone, cidrs[h.Zone]).
				In("host " + h.Name)
		}
		if !ok || taken[a] != "" {
			if a, ok = freeAddress(cidrs[h.Zone], taken); !ok {
				return nil, crmplan.Errorf(crmplan.EINVALID, "zone %s's range %s is full", h.Zone, cidrs[h.Zone]).In("host " + h.Name)
			}
		}
		out[i].Address, taken[a] = a.String(), h.Name
	}
	return out, nil
}

func freeAddress(prefix netip.Prefix, taken map[netip.Addr]string) (netip.Addr, bool) {
	for a := prefix.Addr().Next().Next(); prefix.Contains(a); a = a.Next() {
		if taken[a] == "" {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Pinned returns each host's address, for the next NewLayout.
func (l Layout) Pinned() map[string]string {
	m := map[string]string{}
	for _, h := range l.Hosts {
		m[h.Name] = h.Address
	}
	return m
}

func (l *Layout) placeDatabases() error {
	primaries := l.ByRole(topology.RoleDBPrimary)
	l.Replicas = l.ByRole(topology.RoleDBReplica)
	if len(primaries) > 1 {
		return crmplan.Errorf(crmplan.EINVALID, "the local target runs one PostgreSQL primary, the topology has %d", len(primaries)).
			In("tiers").Try("servers: 1 for the db-primary tier")
	}
	if len(primaries) == 1 {
		l.Primary = &primaries[0]
	}
	needsDB := len(l.ByRole(topology.RoleAPI))+len(l.ByRole(topology.RoleWorker))+len(l.Replicas) > 0
	if needsDB && l.Primary == nil {
		return crmplan.Errorf(crmplan.EINVALID, "the topology has application or replica hosts but no db-primary").
			In("tiers").Try("add a tier with role: db-primary")
	}
	return nil
}

// Local caps: the sizing may ask for the memory of a dedicated database
// server; on one shared machine every server gets a slice of it.
var localCaps = map[string]int64{
	"shared_buffers":       256 << 20,
	"effective_cache_size": 1 << 30,
	"work_mem":             16 << 20,
	"maintenance_work_mem": 128 << 20,
}

// localPGSettings turns the sizing's PostgreSQL settings into
// postgresql.conf values, capped for the local machine.
func localPGSettings(s sizing.PGSettings) map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{
		"shared_buffers": s.SharedBuffers, "effective_cache_size": s.EffectiveCacheSize,
		"work_mem": s.WorkMem, "maintenance_work_mem": s.MaintenanceWorkMem,
	} {
		if v == "" {
			continue
		}
		if n, ok := parseMemory(v); ok && n > localCaps[k] {
			v = formatMemory(localCaps[k])
		}
		out[k] = v
	}
	if s.MaxConnections > 0 {
		out["max_connections"] = strconv.Itoa(s.MaxConnections)
	}
	return out
}

// Local caps of the bulk load's settings: the WAL of a load lives on
// this machine's one disk beside every other host's.
var localBulkCaps = map[string]int64{
	"max_wal_size":         8 << 30,
	"maintenance_work_mem": 512 << 20,
}

// localBulkLoad turns the sizing's bulk-load settings into postgresql.conf
// values, capped for the local machine.
func localBulkLoad(s sizing.BulkLoadSettings) map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{
		"max_wal_size": s.MaxWalSize, "checkpoint_timeout": s.CheckpointTimeout, "maintenance_work_mem": s.MaintenanceWorkMem,
	} {
		if v == "" {
			continue
		}
		if n, ok := parseMemory(v); ok && localBulkCaps[k] > 0 && n > localBulkCaps[k] {
			v = formatMemory(localBulkCaps[k])
		}
		out[k] = v
	}
	return out
}

var memoryRe = regexp.MustCompile(`^\s*(\d+)\s*(kB|MB|GB|TB)?\s*$`)

// parseMemory reads a PostgreSQL memory setting ("256MB", "4GB", "64kB").
func parseMemory(s string) (int64, bool) {
	m := memoryRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	unit := map[string]int64{"": 8 << 10, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[2]]
	return n * unit, true
}

func formatMemory(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMB", n>>20)
	default:
		return fmt.Sprintf("%dkB", n>>10)
	}
}

// sortedKeys is for stable output of maps.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
