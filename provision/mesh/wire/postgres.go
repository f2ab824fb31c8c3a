package wire

import "encoding/json"

// WorkPostgres runs PostgreSQL on a host: `crmplan-host agent postgres` with a
// PostgresOp (JSON) as payload; the last line of its output is a
// PostgresStatus (JSON). Passwords travel in the payload, never as
// parameters, which Receptor records in status files.
const WorkPostgres = "crmplan-postgres"

// WorkSeed fills the CRM's database on the primary's host: the schema
// emptied, `crm migrate` and `crm seed` of the host's current release. The
// payload is the environment (JSON: CRM_DATABASE_URL, CRM_SEED_PASSWORD_KEY);
// args: --records N --users N.
const WorkSeed = "crmplan-seed"

// What a PostgresOp does on the host's server (HOSTDIR/pg, run by the
// host's supervisor as the process "postgres").
const (
	// PostgresInit replaces whatever server the host has with a new
	// primary: initdb with Settings, started, and the CRM's database and
	// role (Database, AppUser, AppPassword) created.
	PostgresInit = "init"
	// PostgresReplica replaces it with a streaming replica of Primary
	// (pg_basebackup), started.
	PostgresReplica = "replica"
	// PostgresConfigure writes Settings and restarts the server when one
	// takes effect only at start (a running server keeps a higher
	// max_connections, and takes the others by a reload); it starts a
	// dead one.
	PostgresConfigure = "configure"
	// PostgresStop stops the server and keeps its data.
	PostgresStop = "stop"
	// PostgresRemove stops the server and removes its data.
	PostgresRemove = "remove"
	// PostgresSync makes the server, a primary, wait on every commit for
	// the replica named Standby (Sync) or for none.
	PostgresSync = "sync"
	// PostgresPromote makes the server, a replica, a primary.
	PostgresPromote = "promote"
	// PostgresRebuild makes the server, a fenced former primary, a
	// streaming replica of Primary: pg_rewind, else a fresh base backup.
	PostgresRebuild = "rebuild"
	// PostgresFollow makes the server, a replica, stream from Primary
	// instead (a reload, its data kept): after a failover, the replicas
	// that were not promoted follow the one that was.
	PostgresFollow = "follow"
	// PostgresUpstream, on a replica's host, asks the replica's primary
	// (as the replica knows it) whether it answers as a primary and waits
	// at most WaitMs for the replica to replay what it had written: crmplan
	// failover's checks, made from the host that may reach the primary
	// (this machine may not: an isolated stack's LAN).
	PostgresUpstream = "upstream"
	// PostgresStatus only reports.
	PostgresStatusOnly = "status"
)

// PostgresOp is the payload of a crmplan-postgres unit.
type PostgresOp struct {
	Action string `json:"action"`
	// Name is the server's cluster_name (the host name): a replica's name
	// is what synchronous_standby_names refers to.
	Name   string `json:"name"`
	Listen string `json:"listen"` // host:port
	// Password is the superuser's; a replica takes it over from its
	// primary.
	Password    string            `json:"password,omitempty"`
	Settings    map[string]string `json:"settings,omitempty"`
	Database    string            `json:"database,omitempty"`
	AppUser     string            `json:"app_user,omitempty"`
	AppPassword string            `json:"app_password,omitempty"`
	// Primary is host:port of the server a replica streams from.
	Primary string `json:"primary,omitempty"`
	// AllowCIDRs may connect to the server (pg_hba.conf); default the
	// loopback range.
	AllowCIDRs []string `json:"allow_cidrs,omitempty"`
	Standby    string   `json:"standby,omitempty"`
	Sync       bool     `json:"sync,omitempty"`
	// WaitMs bounds an upstream action's wait for the replay.
	WaitMs int `json:"wait_ms,omitempty"`
}

// PostgresStatus is what a crmplan-postgres unit reports of the server.
type PostgresStatus struct {
	Exists        bool   `json:"exists"`
	Running       bool   `json:"running"`
	SupervisorPID int    `json:"supervisor_pid,omitempty"`
	SystemID      string `json:"system_id,omitempty"`
	Replica       bool   `json:"replica"`
	// Rewound is set by a rebuild that pg_rewind did (not a base backup).
	Rewound bool `json:"rewound,omitempty"`
	// WALPosition (bytes) and Upstream are set by an upstream action:
	// how far the replica's WAL goes, received or replayed (failover
	// promotes the replica with the highest), and what its primary said.
	WALPosition int64     `json:"wal_position,omitempty"`
	Upstream    *Upstream `json:"upstream,omitempty"`
}

// Upstream is a replica's primary as the replica's host sees it.
type Upstream struct {
	Addr string `json:"addr"` // host:port
	// Primary: it accepted a connection and is not in recovery.
	Primary bool `json:"primary"`
	// Replayed: the replica replayed, within the wait, all the WAL the
	// primary had written when asked.
	Replayed bool `json:"replayed"`
	// LagBytes is the WAL the replica has yet to replay, as the primary
	// sees it; -1 when it could not tell.
	LagBytes int64  `json:"lag_bytes"`
	Reason   string `json:"reason,omitempty"` // why not Primary, or not Replayed
}

// WorkWatchdog starts (or, with Stop, stops) the automatic-failover
// watchdog on a replica's host: `crmplan watchdog` under the host's
// supervisor; with Guard, the lease guard on the primary's host instead;
// with Read, it only reports the promotion the host's watchdog recorded.
// The payload is a WatchdogSpec (JSON); the last line of the output is a
// WatchdogReply.
const WorkWatchdog = "crmplan-watchdog"

// PromotionFile is the failover record a watchdog with a lease keeps in
// its host's directory (the ssh target: the stack's state dir is on
// another machine).
const PromotionFile = "failover.json"

// LeaseSecretFile holds the stack's lease secret in the host directory of
// the watchdog's and the guard's hosts (mode 0600): it travels in the
// payload, never as an argument.
const LeaseSecretFile = "lease.secret"

// WatchdogSpec is how the watchdog runs: the flags of `crmplan watchdog`.
type WatchdogSpec struct {
	Stop bool `json:"stop,omitempty"`
	// Read only reports the host's PromotionFile.
	Read bool `json:"read,omitempty"`
	// Guard starts (or stops) the lease guard instead, listening on
	// GuardAddr, on the primary's host.
	Guard bool `json:"guard,omitempty"`
	// GuardAddr is host:port of the primary's guard; set, the watchdog
	// fences through it (a lease), and Primary is only the primary's name.
	GuardAddr   string   `json:"guard_addr,omitempty"`
	LeaseSecret string   `json:"lease_secret,omitempty"` // hex
	Lease       string   `json:"lease,omitempty"`        // a Go duration
	StateDir    string   `json:"state_dir"`
	Stack       string   `json:"stack"`
	Primary     string   `json:"primary"`  // NAME=HOSTDIR
	Replicas    []string `json:"replicas"` // NAME=HOSTDIR each
	Sync        bool     `json:"sync,omitempty"`
	Interval    string   `json:"interval"` // a Go duration
	Probes      int      `json:"probes"`
}

// WatchdogReply is what a crmplan-watchdog unit answers.
type WatchdogReply struct {
	SupervisorPID int `json:"supervisor_pid"`
	// Promotion is the host's PromotionFile as it is (Read), absent when
	// the watchdog has promoted nothing.
	Promotion json.RawMessage `json:"promotion,omitempty"`
}
