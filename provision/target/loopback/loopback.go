// Package loopback is the default target: every host of a topology is a
// directory on this machine with its own address in 127.0.0.0/8. Linux
// routes all of 127.0.0.0/8 to the loopback interface, so any address
// there can be bound without configuring an interface, and hosts of one
// role can share a port. Nothing is isolated: every host shares this
// machine's network stack (see the --isolate target for that).
package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
)

// Name is the target's name in flags and plans.
const Name = "local"

// Target makes loopback hosts. Reap, when set, stops whatever still runs
// from a host's directory before it is removed: after an interrupted apply
// a process may run that nothing in the stack's state knows of.
type Target struct {
	Reap func(dir string) error
}

var _ target.Target = Target{}
var _ target.HardwareTarget = Target{}

// Hardware is this machine: every host is a set of processes on it,
// sharing its cores with each other and with the load generator.
func (Target) Hardware() target.Hardware {
	return target.Hardware{SharedCores: runtime.NumCPU(), Busy: target.MachineBusy}
}

func (Target) Name() string { return Name }

// CheckRange accepts loopback ranges only: another range would need an
// interface of its own, and its addresses would leave the machine.
func (Target) CheckRange(zone string, cidr netip.Prefix) error {
	if !cidr.Addr().IsLoopback() || !netip.MustParsePrefix("127.0.0.0/8").Contains(cidr.Masked().Addr()) || cidr.Bits() < 8 {
		return crmplan.Errorf(crmplan.EINVALID, "zone %s: range %s is not a loopback range (127.0.0.0/8)", zone, cidr).
			In("zones").Try("cidr: 127.10.1.0/24")
	}
	return nil
}

// Create checks that the host's address is a loopback address in its
// zone's range that this machine can bind, and makes its directory.
func (t Target) Create(ctx context.Context, h target.Host) error {
	if err := t.checkAddress(h); err != nil {
		return err
	}
	// 0755: PostgreSQL, running as its own user when crmplan is root, must
	// pass through to its data directory below.
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	// Made already by someone else (the mesh writing the host's node files
	// makes its parents 0700): MkdirAll keeps that mode.
	if err := os.Chmod(h.Dir, 0o755); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

func (t Target) checkAddress(h target.Host) error {
	prefix, err := netip.ParsePrefix(h.CIDR)
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "zone %s: range %q: %w", h.Zone, h.CIDR, err).In("host " + h.Name)
	}
	if err := t.CheckRange(h.Zone, prefix); err != nil {
		return err
	}
	addr, err := netip.ParseAddr(h.Address)
	if err != nil || !prefix.Contains(addr) {
		return crmplan.Errorf(crmplan.EINVALID, "address %q is not in zone %s's range %s", h.Address, h.Zone, h.CIDR).
			In("host " + h.Name)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(h.Address, "0"))
	if err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "cannot bind %s: %w", h.Address, err).In("host " + h.Name)
	}
	return l.Close()
}

// Exists reports whether the host's directory is there.
func (Target) Exists(ctx context.Context, h target.Host) (bool, error) {
	_, err := os.Stat(h.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Destroy stops the host's Receptor node and whatever else runs from its
// directory, then removes the directory.
func (t Target) Destroy(ctx context.Context, h target.Host) error {
	if _, err := os.Stat(h.Dir); errors.Is(err, os.ErrNotExist) {
		return target.ReapOrphans(t.node(h))
	}
	if err := t.Nodes(h).Stop(t.node(h)); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	if t.Reap != nil {
		if err := t.Reap(h.Dir); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if err := os.RemoveAll(h.Dir); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

// node is the host's Receptor node as the mesh lays it out (HOSTDIR/mesh).
func (Target) node(h target.Host) target.Node {
	return target.Node{ID: h.Name, Dir: target.NodeDir(h.Dir)}
}

// Nodes runs a host's node as a process of this machine.
func (Target) Nodes(target.Host) target.NodeLauncher { return target.Processes{} }
