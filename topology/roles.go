package topology

import "sort"

// Roles returns every role crmplan knows, in the order the default policy and
// the diagram list them: the entry points first, the data tier last.
func Roles() []Role {
	return []Role{
		RoleLoadgen, RoleVPN, RoleFailover, RoleProxy, RoleWeb, RoleAPI, RoleWorker, RoleScheduler,
		RoleIntegration, RoleETL, RoleQueue, RoleKV, RoleMail, RoleAdmin, RoleMarketing, RoleCache, RoleDocStore,
		RoleDBPrimary, RoleDBReplica, RoleMarketingDB,
	}
}

// Known reports whether r is one of Roles().
func (r Role) Known() bool {
	_, ok := defaultPorts[r]
	return ok
}

// defaultPorts is the service port of each role. The crm roles sit next to
// each other from 8080 so a local host's listeners are easy to recognise;
// the others keep the port their real counterpart uses (PostgreSQL 5432,
// memcached 11211, NATS 4222, Redis 6379, SMTP submission 587), so a cloud
// target can run the real thing.
var defaultPorts = map[Role]int{
	RoleWeb:         8080,
	RoleFailover:    8080,
	RoleAPI:         8081,
	RoleWorker:      8082,
	RoleDocStore:    8083,
	RoleIntegration: 8084,
	RoleETL:         8085,
	RoleScheduler:   8086,
	RoleProxy:       8443,
	RoleQueue:       4222,
	RoleCache:       11211,
	RoleKV:          6379,
	RoleMail:        587,
	RoleAdmin:       8087,
	RoleMarketing:   8088,
	RoleMarketingDB: 5432,
	RoleDBPrimary:   5432,
	RoleDBReplica:   5432,
	// A load generator serves nothing; 6565 is k6's REST API port, for
	// the record: the agent binds k6's API on a free port of loopback.
	RoleLoadgen: 6565,
	// WireGuard's own UDP port; the endpoint answers /healthz on TCP at
	// the same number.
	RoleVPN: 51820,
}

// purposes say what each role is for, in the seeds' words: why `crmplan
// size` places it at all (its server count has its own reason).
var purposes = map[Role]string{
	RoleWeb:         "presentation tier: serves the UI and balances the api servers (seed 000's load balancer in the DMZ)",
	RoleFailover:    "active-passive failover switch in front of the application pair (seed 004)",
	RoleAPI:         "application servers behind the presentation tier's balancer (seed 000: two for high availability)",
	RoleWorker:      "back-end job server: import, export, scheduled reports (seed 001)",
	RoleDBPrimary:   "PostgreSQL primary: every write (seed 000's master)",
	RoleDBReplica:   "PostgreSQL streaming replica: reads and a standby for failover (seed 000's slave)",
	RoleCache:       "memcached tier the api servers share for sessions (seed 001)",
	RoleDocStore:    "document storage apart from the database (seed 001)",
	RoleIntegration: "integration server (ESB): API web services over the application tier (seed 000's Talend ESB, seed 002's integrators)",
	RoleETL:         "data migration server: ETL jobs into the database (seed 000's Talend Open Studio)",
	RoleScheduler:   "job scheduler of the integrator cluster (seed 002)",
	RoleQueue:       "pub/sub queue brokered across the LANs (seed 002)",
	RoleProxy:       "access and distribution proxy into the LAN (seed 002)",
	RoleLoadgen:     "load generator outside the DMZ, running shares of crmplan verify's k6 load",
	RoleAdmin:       "web admin console over the integrator cluster's members, queues and schedules, behind the proxy (seed 002's ARWADM)",
	RoleMail:        "SMTP relay the roles send their notifications through (seed 002's ARMAIL)",
	RoleKV:          "key-value store of the integrators' shared state (seed 002's ARKVD)",
	RoleVPN:         "WireGuard endpoint: remote users' tunnels reach the entry role only (seed 002's ARVPN; runs on apply --isolate only)",
	RoleMarketing:   "marketing application server in the DMZ: campaigns and their recipients, read from the CRM's contacts through its API (seed 000)",
	RoleMarketingDB: "PostgreSQL of the marketing server's campaigns, in the LAN, apart from the CRM's database (seed 000's Marketing Database)",
}

// Purpose says what role r is for in a topology; "" for a role without
// one.
func (r Role) Purpose() string { return purposes[r] }

// DefaultPort is the port hosts of role r listen on; 0 for an unknown role.
func DefaultPort(r Role) int { return defaultPorts[r] }

// IsData reports whether r keeps the system's data. The network policy keeps
// data roles out of the DMZ's reach: a compromised presentation host must go
// through the application tier, which authenticates and authorises. The
// cache is data too: memcached has no authentication of its own; so is the
// integrators' key-value store.
func (r Role) IsData() bool {
	switch r {
	case RoleDBPrimary, RoleDBReplica, RoleCache, RoleDocStore, RoleKV, RoleMarketingDB:
		return true
	}
	return false
}

// IsPostgres reports whether hosts of r run a PostgreSQL server: the
// CRM's primary and replicas, and the marketing server's database.
func (r Role) IsPostgres() bool {
	return r == RoleDBPrimary || r == RoleDBReplica || r == RoleMarketingDB
}

// SendsMail reports whether hosts of r mail the operators: the scheduler
// a job no target took, an integrator an api server its balancer ejected
// (seed 002's ARLDB, failure detection). In a plan with a mail tier each
// such host runs its own relay (Host.Sidecars).
func (r Role) SendsMail() bool { return r == RoleScheduler || r == RoleIntegration }

// roleNames returns the names of Roles() as strings, for suggestions.
func roleNames() []string {
	rs := Roles()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// defaultLink is one link of the default policy: allowed when both roles are
// in the plan.
type defaultLink struct{ from, to Role }

// defaultLinks is the policy the roles imply, in a fixed order so that
// topologies and diagrams are stable. The replication link points from the
// replica to the primary because a PostgreSQL standby opens the streaming
// connection (primary_conninfo): a firewall has to let the replica in, not
// the primary out.
var defaultLinks = []defaultLink{
	{RoleWeb, RoleAPI},
	{RoleAPI, RoleDBPrimary},
	{RoleAPI, RoleDBReplica},
	{RoleAPI, RoleCache},
	{RoleAPI, RoleDocStore},
	{RoleAPI, RoleQueue},
	{RoleWorker, RoleDBPrimary},
	{RoleWorker, RoleDBReplica},
	{RoleWorker, RoleCache},
	{RoleWorker, RoleDocStore},
	{RoleWorker, RoleQueue},
	{RoleIntegration, RoleAPI},
	{RoleIntegration, RoleQueue},
	{RoleIntegration, RoleIntegration},
	{RoleIntegration, RoleKV},
	{RoleETL, RoleDBPrimary},
	{RoleScheduler, RoleWorker},
	{RoleScheduler, RoleIntegration},
	{RoleScheduler, RoleQueue},
	{RoleScheduler, RoleMail},
	// The relay on an integrator's machine hands its mail to the mail tier.
	{RoleIntegration, RoleMail},
	{RoleAdmin, RoleIntegration},
	{RoleAdmin, RoleQueue},
	{RoleAdmin, RoleScheduler},
	{RoleAdmin, RoleKV},
	{RoleDBReplica, RoleDBPrimary},
	// Seed 000's marketing server: users reach it in the DMZ, it reads
	// the CRM's contacts through the application tier (with the caller's
	// token, never from the CRM's database) and keeps its campaigns in
	// its own database in the LAN: the one DMZ-to-data link the policy
	// allows (dmzDataLinks).
	{RoleLoadgen, RoleMarketing},
	{RoleMarketing, RoleAPI},
	{RoleMarketing, RoleMarketingDB},
}

// frontTargets says where an entry role forwards requests: the first of its
// candidates the plan has. A failover switch fronts the web tier, or the
// application pair itself when there is no separate web tier (seed 004); the
// access proxy of seed 002 fronts the integrator cluster first.
var frontTargets = map[Role][]Role{
	// Load generators reach the stack where users do: its entry role.
	RoleLoadgen: {RoleFailover, RoleProxy, RoleWeb, RoleAPI},
	// Remote users come in where users do; the endpoint's firewall lets
	// the tunnel reach what this link allows, nothing else.
	RoleVPN:      {RoleFailover, RoleProxy, RoleWeb, RoleAPI},
	RoleFailover: {RoleWeb, RoleAPI},
	RoleProxy:    {RoleIntegration, RoleWeb, RoleAPI},
}

// DefaultLinks returns the links the given roles imply, in a stable order:
// entry roles first, then the fixed policy table.
func DefaultLinks(roles []Role) []Link {
	has := map[Role]bool{}
	for _, r := range roles {
		has[r] = true
	}
	var out []Link
	entries := make([]Role, 0, len(frontTargets))
	for r := range frontTargets {
		entries = append(entries, r)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i] < entries[j] })
	for _, from := range entries {
		if !has[from] {
			continue
		}
		for _, to := range frontTargets[from] {
			if has[to] {
				out = append(out, Link{From: from, To: to, Port: DefaultPort(to)})
				break
			}
		}
	}
	if has[RoleProxy] && has[RoleAdmin] {
		// The consoles are reached from outside through the proxy only.
		out = append(out, Link{From: RoleProxy, To: RoleAdmin, Port: DefaultPort(RoleAdmin)})
	}
	for _, l := range defaultLinks {
		if has[l.from] && has[l.to] {
			out = append(out, Link{From: l.from, To: l.to, Port: DefaultPort(l.to)})
		}
	}
	return out
}
