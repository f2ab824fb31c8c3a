package agent

import (
	"fmt"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// WatchdogProcess is the automatic-failover watchdog as the host's
// supervisor runs it; self is the crmplan binary on the host.
func (h Host) WatchdogProcess(self string, s wire.WatchdogSpec) supervise.Process {
	argv := []string{self, "watchdog", "--state-dir", s.StateDir, "--stack", s.Stack, "--primary", s.Primary,
		"--interval", s.Interval, "--probes", fmt.Sprint(s.Probes)}
	for _, r := range s.Replicas {
		argv = append(argv, "--replica", r)
	}
	if s.Sync {
		argv = append(argv, "--sync")
	}
	return supervise.Process{Name: "watchdog", Dir: h.Dir, Argv: argv}
}

// Watchdog starts the watchdog from s (stopping one that runs first), or
// stops it when s.Stop; it returns the supervisor's pid.
func (h Host) Watchdog(self string, s wire.WatchdogSpec) (int, error) {
	proc := h.WatchdogProcess(self, s)
	if s.Stop {
		return 0, proc.Stop()
	}
	if _, err := time.ParseDuration(s.Interval); err != nil || s.Probes < 1 || s.Primary == "" || len(s.Replicas) == 0 {
		return 0, crmplan.Errorf(crmplan.EINVALID, "watchdog spec needs a primary, replicas, an interval (got %q) and probes >= 1 (got %d)",
			s.Interval, s.Probes).In("payload")
	}
	return proc.Start(self) // Start stops the old one first
}
