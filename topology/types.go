// Package topology is crmplan's domain model of a deployment: zones (DMZ,
// LANs), hosts with roles, and links, the network policy that says which role
// may reach which role on which port. It also owns the plan file, the one YAML
// document that drives size, apply, verify and report.
//
// Like sizing, it does no I/O beyond decoding and encoding bytes it is given.
//
// The flow: DecodePlan (or NewPlan for a bare workload) gives a validated
// *Plan; Lay(plan) sizes it (sizing.Size(plan.Model())) and lays out the
// Topology from the estimate with Build: hosts "<role>-<n>" numbered from
// .10 of their zone's range, listening on DefaultPort(role), and the links
// the roles imply (DefaultLinks) plus the plan's own. Topology.Validate enforces the network
// policy (nothing in a DMZ reaches a data role), and DiagramSVG draws it.
// The plan files in examples/ show the format, one per seed topology.
package topology

import "github.com/crmplan/crmplan/sizing"

// ZoneKind says how exposed a zone is.
type ZoneKind string

const (
	DMZ ZoneKind = "dmz" // reachable from outside; holds the presentation tier
	LAN ZoneKind = "lan" // internal; application, data, integration
	// Outside is beyond the DMZ, where the users are: it holds only load
	// generators, which reach the stack the way users' browsers do.
	Outside ZoneKind = "outside"
)

// Zone is a network segment. On the local target each zone gets its own
// loopback range (CIDR) and, with --isolate, its own network namespace.
type Zone struct {
	Name string   `json:"name" yaml:"name"`
	Kind ZoneKind `json:"kind" yaml:"kind"`
	CIDR string   `json:"cidr,omitempty" yaml:"cidr,omitempty"` // e.g. 127.10.1.0/24
}

// Role is what a host does. The crm binary implements web, api and worker;
// PostgreSQL implements db-primary and db-replica.
type Role string

// The roles the seed topologies need.
const (
	RoleWeb         Role = "web"          // presentation tier + load balancer (crm web)
	RoleFailover    Role = "failover"     // active-passive failover switch (crm web in failover mode, seed 004)
	RoleAPI         Role = "api"          // application server (crm api)
	RoleWorker      Role = "worker"       // back-end jobs: import, export, scheduled reports (crm worker)
	RoleDBPrimary   Role = "db-primary"   // PostgreSQL primary
	RoleDBReplica   Role = "db-replica"   // PostgreSQL streaming replica
	RoleCache       Role = "cache"        // memcached-style cache tier (seed 001)
	RoleDocStore    Role = "docstore"     // document storage (seed 001)
	RoleIntegration Role = "integration"  // ESB / integrator server (seeds 000, 002)
	RoleETL         Role = "etl"          // data migration (seed 000)
	RoleScheduler   Role = "scheduler"    // job scheduler (seed 002)
	RoleQueue       Role = "queue"        // pub/sub queue, brokered across LANs (seed 002)
	RoleAdmin       Role = "admin"        // web admin console over the integrator cluster, behind the proxy (seed 002's ARWADM)
	RoleMail        Role = "mail"         // SMTP relay of the roles' notifications into a Maildir (seed 002's ARMAIL)
	RoleKV          Role = "kv"           // key-value store of the integrators' shared state: Redis (seed 002's ARKVD)
	RoleProxy       Role = "proxy"        // access and distribution proxy into a LAN (seed 002)
	RoleLoadgen     Role = "loadgen"      // load generator outside the DMZ: k6 shares of crmplan verify, through the mesh
	RoleVPN         Role = "vpn"          // WireGuard endpoint in the DMZ for remote users (seed 002's ARVPN; isolated target only)
	RoleMarketing   Role = "marketing"    // marketing application server in the DMZ: campaigns from the CRM's contacts (seed 000)
	RoleMarketingDB Role = "marketing-db" // the marketing server's own PostgreSQL in the LAN (seed 000's Marketing Database)
)

// Host is one server of the topology.
type Host struct {
	Name    string `json:"name" yaml:"name"` // unique, e.g. "api-1"
	Role    Role   `json:"role" yaml:"role"`
	Zone    string `json:"zone" yaml:"zone"`
	Address string `json:"address,omitempty" yaml:"address,omitempty"` // IP inside the zone's CIDR
	Port    int    `json:"port,omitempty" yaml:"port,omitempty"`       // the role's service port
	// Sidecars are roles that run on this machine beside Role, each on its
	// own DefaultPort at Address: seed 002's ARMAIL runs "1 per machine",
	// so in a plan with a mail tier every host whose role sends mail has a
	// relay of its own (Role.SendsMail), which hands the mail on to the
	// mail tier.
	Sidecars []Role `json:"sidecars,omitempty" yaml:"sidecars,omitempty"`
}

// Link allows traffic from hosts of role From to hosts of role To on Port.
// Anything not allowed by a link is denied.
type Link struct {
	From Role `json:"from" yaml:"from"`
	To   Role `json:"to" yaml:"to"`
	Port int  `json:"port" yaml:"port"`
}

// Topology is the set of zones, hosts and allowed links of one deployment.
type Topology struct {
	Zones []Zone `json:"zones" yaml:"zones"`
	Hosts []Host `json:"hosts" yaml:"hosts"`
	Links []Link `json:"links" yaml:"links"`
}

// Replication is how a db-replica follows its primary.
type Replication string

const (
	Async Replication = "async" // the seeds' choice; may lose the last commits on failover
	Sync  Replication = "sync"  // synchronous_commit = remote_apply with one standby
)

// Failover is who promotes a db-replica when the primary is lost.
type Failover string

const (
	Manual Failover = "manual" // an operator runs crmplan failover
	// Automatic: a watchdog on the replica's host probes the primary and,
	// after a few failed probes, fences it and promotes the replica itself.
	Automatic Failover = "automatic"
)

// TierPlan is one tier of the plan file: a role, the zone it lives in and
// how to size it. The sizing fields are sizing.TierSpec's.
type TierPlan struct {
	sizing.TierSpec `yaml:",inline"`
	Zone            string `json:"zone" yaml:"zone"`
	// Spread lists further zones the tier's servers are spread across,
	// round-robin after Zone: seed 002 wants an integrator server in every
	// LAN. The tier gets at least one server per zone.
	Spread      []string    `json:"spread,omitempty" yaml:"spread,omitempty"`
	Replication Replication `json:"replication,omitempty" yaml:"replication,omitempty"` // db-replica only
	Failover    Failover    `json:"failover,omitempty" yaml:"failover,omitempty"`       // db-replica only; default manual
	Instance    string      `json:"instance,omitempty" yaml:"instance,omitempty"`       // instance type for cost and cloud targets
	// Database is what a db tier runs on: crmplan's PostgreSQL on the
	// tier's hosts (postgres, the default) or, on the AWS target, RDS.
	Database Engine `json:"database,omitempty" yaml:"database,omitempty"`
}

// Engine is what runs a database tier.
type Engine string

const (
	// EnginePostgres is crmplan's PostgreSQL on the tier's own hosts, with
	// its replication, failover and chaos tests: the default on every target.
	EnginePostgres Engine = "postgres"
	// EngineRDS is AWS RDS for PostgreSQL with a read replica (--target aws
	// only); AWS runs the database, so crmplan's watchdog and failover do not.
	EngineRDS Engine = "rds"
)

// Plan is the plan file: the workload, the SLO, the tiers with their zones,
// and extra links. size reads and writes it; apply, verify and report read it.
type Plan struct {
	Name     string              `json:"name" yaml:"name"`
	Workload sizing.Workload     `json:"workload" yaml:"workload"`
	SLO      sizing.SLO          `json:"slo" yaml:"slo"`
	Zones    []Zone              `json:"zones" yaml:"zones"`
	Tiers    []TierPlan          `json:"tiers" yaml:"tiers"`
	Links    []Link              `json:"links,omitempty" yaml:"links,omitempty"` // beyond the defaults the roles imply
	Database sizing.DatabaseSpec `json:"database,omitempty" yaml:"database,omitempty"`
	Prices   *PriceTable         `json:"prices,omitempty" yaml:"prices,omitempty"`
	// Isolate puts every host in its own network namespace with the links
	// enforced between them (crmplan apply --isolate; root on Linux).
	Isolate bool `json:"isolate,omitempty" yaml:"isolate,omitempty"`
	// Target names what makes the hosts: "local" (the default) or "ssh",
	// existing machines listed in the Inventory file (crmplan apply
	// --target ssh --inventory machines.yaml).
	Target    string `json:"target,omitempty" yaml:"target,omitempty"`
	Inventory string `json:"inventory,omitempty" yaml:"inventory,omitempty"`
	// TLS is the web tier's public port; nil is HTTPS with a certificate
	// from the stack's own CA.
	TLS *WebTLS `json:"tls,omitempty" yaml:"tls,omitempty"`
}

// WebTLS is the plan's tls section. Paths are relative to the plan file.
type WebTLS struct {
	Off      bool   `json:"off,omitempty" yaml:"off,omitempty"`             // plain HTTP only
	CertFile string `json:"cert_file,omitempty" yaml:"cert_file,omitempty"` // the user's own certificate (chain), PEM
	KeyFile  string `json:"key_file,omitempty" yaml:"key_file,omitempty"`   // its private key, PEM
	CAFile   string `json:"ca_file,omitempty" yaml:"ca_file,omitempty"`     // what crmplan's clients trust for it; default the system's roots
}

// PriceTable prices instance types per month, for the report's cost estimate.
type PriceTable struct {
	Currency string             `json:"currency" yaml:"currency"`
	AsOf     string             `json:"as_of" yaml:"as_of"` // date of the prices, YYYY-MM-DD
	Monthly  map[string]float64 `json:"monthly" yaml:"monthly"`
}
