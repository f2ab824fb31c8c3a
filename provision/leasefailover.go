package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/provision/watchdog"
	"github.com/crmplan/crmplan/topology"
)

// GuardPort is where the lease guard on the primary's host listens (on
// the host's address) for the watchdog on the replica's: package
// watchdog's doc says why the ssh target fences by a lease. The mesh's
// port is one above.
const GuardPort = mesh.DefaultPort - 1

// leaseFailover tells whether automatic failover fences by the lease: the
// ssh target, whose database hosts share no filesystem with each other nor
// with this machine. Local and isolated stacks keep the watchdog that
// reads and fences through the hosts' files.
func (l Layout) leaseFailover() bool {
	return l.AutoFailover && l.Target == ssh.Name
}

// saveWatchdogHost remembers which host's watchdog keeps the stack's
// failover record (a lease failover that has not happened yet), or
// forgets it.
func saveWatchdogHost(paths stackdir.Paths, l Layout) error {
	if !l.leaseFailover() || l.Promotion != nil || l.Primary == nil || len(l.Replicas) == 0 {
		if err := os.Remove(paths.WatchdogHost()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(paths.WatchdogHost(), []byte(l.Replicas[0].Name+"\n"), 0o600)
}

// syncPromotion returns the stack's failover record. A watchdog with a
// lease records its promotion on its own host: when the stack has such a
// watchdog and no record yet, its host's agent is asked through the mesh
// (a crmplan-watchdog query with read: true), and what it recorded is
// saved as the stack's failover.json, where apply, failover, status and
// verify read it as on the local target.
func syncPromotion(ctx context.Context, paths stackdir.Paths) (*watchdog.Promotion, error) {
	p, err := watchdog.LoadPromotion(paths)
	if err != nil || p != nil {
		return p, err
	}
	b, err := os.ReadFile(paths.WatchdogHost())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	host := strings.TrimSpace(string(b))
	m, err := mesh.Open(paths.StateDir, paths.Stack, targets())
	if err != nil || !m.Has(host) {
		return nil, err // not deployed yet
	}
	// Reach, not Start: a lost primary's machine must stay lost (status
	// and chaos ask too); the watchdog's host is a replica's.
	routed, err := m.Reach(ctx, routeWait)
	if err != nil {
		return nil, err
	}
	if !routed[host] {
		return nil, fmt.Errorf("host %s keeps the stack's failover record (its watchdog's), but the mesh has no route to it", host)
	}
	payload, err := json.Marshal(wire.WatchdogSpec{Read: true, Stack: paths.Stack})
	if err != nil {
		return nil, err
	}
	// A query: it reads one file, so every apply of such a stack pays
	// a fraction of a second for it, not a unit's polling.
	reply, err := watchdogUnit(ctx, m, host, payload, true)
	if err != nil || len(reply.Promotion) == 0 {
		return nil, err
	}
	if p, err = watchdog.ParsePromotion("on host "+host, reply.Promotion); err != nil {
		return nil, err
	}
	return p, watchdog.SavePromotion(paths, *p)
}

// leaseRules are the connections a lease failover adds to the stack's
// policy: every replica's host to the primary's guard.
func (l Layout) leaseRules(add func(from LocalHost, to string, port int) error) error {
	if !l.leaseFailover() || l.Primary == nil {
		return nil
	}
	var errs []error
	for _, r := range l.ByRole(topology.RoleDBReplica) {
		errs = append(errs, add(r, l.Primary.Address, GuardPort))
	}
	return errors.Join(errs...)
}
