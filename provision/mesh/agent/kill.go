package agent

import (
	"syscall"
	"time"

	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// Kill kill -9s every process the host's supervisors run, as if the host
// lost power: the supervisors first, so that none restarts its program,
// then the programs with their process groups (PostgreSQL's backends). It
// returns once they are gone, or after a few seconds. The host's Receptor
// node, which runs this, is left to the host's target.
func (h Host) Kill() wire.Killed {
	procs := h.Processes()
	k := wire.Killed{At: time.Now()}
	var pids []int
	for _, p := range procs {
		if p.SupervisorPID > 0 {
			_ = syscall.Kill(p.SupervisorPID, syscall.SIGKILL)
			pids = append(pids, p.SupervisorPID)
			k.Supervisors++
		}
	}
	for _, p := range procs {
		if p.PID > 0 {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
			// Its supervisor's group, which it shares, and its own if it
			// leads one.
			_ = syscall.Kill(-p.SupervisorPID, syscall.SIGKILL)
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
			pids = append(pids, p.PID)
			k.Programs++
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for !supervise.Exited(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return k
}
