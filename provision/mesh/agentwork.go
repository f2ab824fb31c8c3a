package mesh

import (
	"strings"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// AgentWorkTypes returns the agent's work types for a host whose files are
// in hostDir, run by the crmplan-host binary at agentBin.
func AgentWorkTypes(agentBin, hostDir string) []WorkType {
	verbs := []string{wire.WorkInstall, wire.WorkRollback, wire.WorkStart, wire.WorkStop, wire.WorkRestart, wire.WorkMigrate, wire.WorkHealth, wire.WorkStatus, wire.WorkDrain,
		wire.WorkPostgres, wire.WorkSeed, wire.WorkWatchdog, wire.WorkKill, wire.WorkProbe, wire.WorkLoad, wire.WorkLedger, wire.WorkPackages}
	out := make([]WorkType, len(verbs))
	for i, name := range verbs {
		verb := strings.TrimPrefix(name, "crmplan-")
		out[i] = WorkType{Name: name, Command: agentBin, Params: "agent " + verb + " --host-dir '" + hostDir + "'"}
	}
	return out
}
