package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
)

// WatchdogProcess is the automatic-failover watchdog as the host's
// supervisor runs it; self is the crmplan-host binary on the host. With a
// guard address it fences through the lease (the ssh target) and keeps
// its promotion record in the host's directory.
func (h Host) WatchdogProcess(self string, s wire.WatchdogSpec) supervise.Process {
	if s.Guard {
		return supervise.Process{Name: "guard", Dir: h.Dir, Argv: []string{self, "guard", "--host-dir", h.Dir, "--stack", s.Stack,
			"--listen", s.GuardAddr, "--lease", s.Lease, "--lease-secret-file", filepath.Join(h.Dir, wire.LeaseSecretFile)}}
	}
	argv := []string{self, "watchdog", "--state-dir", s.StateDir, "--stack", s.Stack, "--primary", s.Primary,
		"--interval", s.Interval, "--probes", fmt.Sprint(s.Probes)}
	for _, r := range s.Replicas {
		argv = append(argv, "--replica", r)
	}
	if s.Sync {
		argv = append(argv, "--sync")
	}
	if s.GuardAddr != "" {
		argv = append(argv, "--guard", s.GuardAddr, "--lease", s.Lease,
			"--lease-secret-file", filepath.Join(h.Dir, wire.LeaseSecretFile), "--record", filepath.Join(h.Dir, wire.PromotionFile))
	}
	return supervise.Process{Name: "watchdog", Dir: h.Dir, Argv: argv}
}

// Watchdog starts the watchdog (or the guard) from s, stopping one that
// runs first, or stops it when s.Stop, or reads the host's promotion
// record when s.Read.
func (h Host) Watchdog(self string, s wire.WatchdogSpec) (wire.WatchdogReply, error) {
	if s.Read {
		b, err := os.ReadFile(filepath.Join(h.Dir, wire.PromotionFile))
		if errors.Is(err, fs.ErrNotExist) {
			return wire.WatchdogReply{}, nil
		}
		return wire.WatchdogReply{Promotion: b}, err
	}
	proc := h.WatchdogProcess(self, s)
	if s.Stop {
		return wire.WatchdogReply{}, proc.Stop()
	}
	if err := h.checkWatchdog(s); err != nil {
		return wire.WatchdogReply{}, err
	}
	if s.GuardAddr != "" {
		secret := filepath.Join(h.Dir, wire.LeaseSecretFile)
		if err := os.WriteFile(secret+".tmp", []byte(s.LeaseSecret+"\n"), 0o600); err != nil {
			return wire.WatchdogReply{}, err
		}
		if err := os.Rename(secret+".tmp", secret); err != nil {
			return wire.WatchdogReply{}, err
		}
	}
	pid, err := proc.Start(self) // Start stops the old one first
	return wire.WatchdogReply{SupervisorPID: pid}, err
}

func (h Host) checkWatchdog(s wire.WatchdogSpec) error {
	if s.GuardAddr != "" {
		if _, err := time.ParseDuration(s.Lease); err != nil || len(s.LeaseSecret) < 24 {
			return crmplan.Errorf(crmplan.EINVALID, "a lease needs a duration (got %q) and a secret of at least 24 characters", s.Lease).In("payload")
		}
	}
	if s.Guard {
		if s.GuardAddr == "" {
			return crmplan.Errorf(crmplan.EINVALID, "a guard needs the address to listen on").In("payload: guard_addr")
		}
		return nil
	}
	if _, err := time.ParseDuration(s.Interval); err != nil || s.Probes < 1 || s.Primary == "" || len(s.Replicas) == 0 {
		return crmplan.Errorf(crmplan.EINVALID, "watchdog spec needs a primary, replicas, an interval (got %q) and probes >= 1 (got %d)",
			s.Interval, s.Probes).In("payload")
	}
	return nil
}
