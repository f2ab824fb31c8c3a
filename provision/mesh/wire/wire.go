// Package wire is what the mesh controller (provision/mesh) and a host's
// agent (provision/mesh/agent) agree on: the agent's work types, the start
// unit's payload, and where crm web takes its deploy control. Both sides
// import it, and it imports nothing of the planning side (only latency,
// the histograms load generators report), so the agent links none of it.
package wire

import "path/filepath"

// The work types of the crmplan agent. Each runs `crmplan-host agent VERB
// --host-dir DIR` on the host, with the runtime parameters of the unit
// appended and the payload on stdin.
const (
	WorkInstall  = "crmplan-install"  // payload: release archive; args: --sha256 HEX --version V
	WorkRollback = "crmplan-rollback" // back to the previous release
	WorkStart    = "crmplan-start"    // payload: role spec (JSON); args: --role R
	WorkStop     = "crmplan-stop"     // args: --role R
	WorkRestart  = "crmplan-restart"  // args: --role R
	WorkMigrate  = "crmplan-migrate"  // payload: environment (JSON) with the database URL
	WorkHealth   = "crmplan-health"   // args: --role R
	WorkStatus   = "crmplan-status"   // the host's releases and roles, as JSON
	WorkDrain    = "crmplan-drain"    // on a web host; args: --backend URL [--undrain]
)

// RoleSpec is how a role of the CRM runs on a host: the payload of a
// crmplan-start unit. It travels as payload, not as parameters (which
// Receptor records in status files), because Env holds database passwords.
type RoleSpec struct {
	Role   string            `json:"role"`   // web, api or worker: the crm subcommand
	Listen string            `json:"listen"` // host:port
	Args   []string          `json:"args,omitempty"`
	Env    map[string]string `json:"env,omitempty"`
}

// WebAdminSocket is where crm web listens for its deploy control (drain,
// undrain) on a host whose files are in hostDir: a Unix socket, so only
// a work unit on that host reaches it.
func WebAdminSocket(hostDir string) string { return AdminSocket(hostDir, "web") }

// AdminSocket is where a balancing crm role (web, integration) listens for
// its deploy control on a host whose files are in hostDir.
func AdminSocket(hostDir, role string) string {
	return filepath.Join(hostDir, "crm-"+role+".admin.sock")
}
