package wire

import "time"

// WorkKill kills everything the host's supervisors run, as a power loss
// would (crmplan verify --chaos kill:HOST@T): `crmplan-host agent kill`; its
// output is a Killed (JSON). The host's Receptor node is left running so
// that the unit can answer: the host's target kills it next.
const WorkKill = "crmplan-kill"

// Status is what a crmplan-status unit reports about its host (JSON): the
// releases, every role's health, every supervised process and, on a
// database host, its PostgreSQL server.
type Status struct {
	Dir       string       `json:"dir"`
	Current   string       `json:"current"`
	Previous  string       `json:"previous,omitempty"`
	Releases  []string     `json:"releases"`
	Roles     []RoleHealth `json:"roles"`
	Processes []Process    `json:"processes"`
	// Postgres is set on a host that has a PostgreSQL server.
	Postgres *Postgres `json:"postgres,omitempty"`
}

// RoleHealth is a crm role's health on its host (a crmplan-health unit's
// answer, and one entry of Status).
type RoleHealth struct {
	Role     string `json:"role"`
	Listen   string `json:"listen"`
	Release  string `json:"release"`
	Running  bool   `json:"running"`
	Healthy  bool   `json:"healthy"` // /healthz answers 200
	Ready    bool   `json:"ready"`   // /readyz answers 200
	Reason   string `json:"reason,omitempty"`
	Restarts int    `json:"restarts"`
}

// Process is one supervised process of a host.
type Process struct {
	Name          string `json:"name"`
	Running       bool   `json:"running"`
	SupervisorPID int    `json:"supervisor_pid,omitempty"`
	PID           int    `json:"pid,omitempty"`
	Restarts      int    `json:"restarts"`
	LastExit      string `json:"last_exit,omitempty"`
	Log           string `json:"log"`
}

// Postgres is the host's PostgreSQL server as its agent sees it.
type Postgres struct {
	Running bool `json:"running"` // its supervisor runs
	// Ready says the server answered a query; Reason why not.
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"`
	Replica bool   `json:"replica"` // in recovery
	// Receiver is a replica's WAL receiver state ("streaming"), "" when
	// it has none.
	Receiver string `json:"receiver,omitempty"`
	// Standbys are the servers streaming from this one
	// (pg_stat_replication).
	Standbys []Standby `json:"standbys,omitempty"`
}

// Standby is a row of pg_stat_replication: a replica as its upstream sees it.
type Standby struct {
	Name      string  `json:"name"`       // application_name: the replica's host name
	State     string  `json:"state"`      // "streaming" when healthy
	SyncState string  `json:"sync_state"` // "async" or "sync"/"quorum"
	LagBytes  int64   `json:"lag_bytes"`  // WAL the replica has yet to replay
	LagSecs   float64 `json:"lag_seconds"`
}

// Killed is what a crmplan-kill unit killed.
type Killed struct {
	Supervisors int       `json:"supervisors"`
	Programs    int       `json:"programs"`
	At          time.Time `json:"at"` // when the first kill was sent, by the host's clock
}
