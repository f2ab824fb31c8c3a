package mesh

import (
	"path/filepath"
	"strings"
)

// The work types of the crmplan agent. Each runs `crmplan agent VERB
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

// WebAdminSocket is where crm web listens for its deploy control (drain,
// undrain) on a host whose files are in hostDir: a Unix socket, so only
// a work unit on that host reaches it.
func WebAdminSocket(hostDir string) string { return filepath.Join(hostDir, "crm-web.admin.sock") }

// AgentWorkTypes returns the agent's work types for a host whose files are
// in hostDir, run by the crmplan binary at crmplanBin.
func AgentWorkTypes(crmplanBin, hostDir string) []WorkType {
	verbs := []string{WorkInstall, WorkRollback, WorkStart, WorkStop, WorkRestart, WorkMigrate, WorkHealth, WorkStatus, WorkDrain}
	out := make([]WorkType, len(verbs))
	for i, name := range verbs {
		verb := strings.TrimPrefix(name, "crmplan-")
		out[i] = WorkType{Name: name, Command: crmplanBin, Params: "agent " + verb + " --host-dir '" + hostDir + "'"}
	}
	return out
}
