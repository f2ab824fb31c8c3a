package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/watchdog"
	"github.com/crmplan/crmplan/topology"
)

// ResolveHost names the host target means on a deployed stack right now:
// a host name (api-1), a role (db-primary: the host that holds it now,
// after any failover; the first one for a role with several) or app-N,
// the seeds' word for the N-th application server (api-N).
func ResolveHost(stateDir, stack, target string) (stackdir.InventoryHost, error) {
	p, _ := watchdog.LoadPromotion(stackdir.Paths{StateDir: stateDir, Stack: stack})
	return resolveHost(stateDir, stack, target, p)
}

// resolveHostNow is ResolveHost after a failover a watchdog recorded on
// its host (syncPromotion): what a fault or a check acts on.
func resolveHostNow(ctx context.Context, stateDir, stack, target string) (stackdir.InventoryHost, error) {
	p, err := syncPromotion(ctx, stackdir.Paths{StateDir: stateDir, Stack: stack})
	if err != nil {
		return stackdir.InventoryHost{}, err
	}
	return resolveHost(stateDir, stack, target, p)
}

func resolveHost(stateDir, stack, target string, p *watchdog.Promotion) (stackdir.InventoryHost, error) {
	inv, err := stackdir.LoadInventory(stateDir, stack)
	if err != nil {
		return stackdir.InventoryHost{}, err
	}
	swapRoles(p, &inv)
	name := target
	if n, ok := strings.CutPrefix(target, "app-"); ok {
		name = string(topology.RoleAPI) + "-" + n
	}
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h, nil
		}
	}
	for _, h := range inv.Hosts {
		if h.Role == target {
			return h, nil
		}
	}
	names := make([]string, 0, len(inv.Hosts))
	for _, h := range inv.Hosts {
		names = append(names, h.Name)
	}
	return stackdir.InventoryHost{}, crmplan.Errorf(crmplan.EINVALID, "stack %s has no host or role %q (hosts: %s)", stack, target, strings.Join(names, ", ")).
		In("--chaos").Try("crmplan status --stack %s", stack)
}

// KillHost kills a host as if it lost power: its agent kill -9s the
// supervisors first (so that nothing restarts the rest), then their
// programs with their process groups (PostgreSQL's backends), and answers;
// then the host's target kills its Receptor node. It returns the host's
// name and when the agent sent its first kill, by the host's clock (the
// unit takes Receptor's polling seconds around it); a host whose node is
// down already, or that runs nothing, is an error (a chaos run must not
// report a fault that did not happen).
func KillHost(ctx context.Context, stateDir, stack, name string) (string, time.Time, error) {
	h, err := resolveHostNow(ctx, stateDir, stack, name)
	if err != nil {
		return "", time.Time{}, err
	}
	// The drift check would see the dead processes too; a fault injected
	// is not left to it.
	if err := forgetLastUp(stackdir.Paths{StateDir: stateDir, Stack: stack}); err != nil {
		return "", time.Time{}, err
	}
	killed, err := killHost(ctx, stateDir, stack, h)
	return h.Name, killed.At, err
}

func killHost(ctx context.Context, stateDir, stack string, h stackdir.InventoryHost) (wire.Killed, error) {
	var killed wire.Killed
	inv, err := stackdir.LoadInventory(stateDir, stack)
	if err != nil {
		return killed, err
	}
	m, err := mesh.Open(stateDir, stack, targets())
	if err != nil {
		return killed, err
	}
	launcher, node, err := hostNode(m, inv, h)
	if err != nil {
		return killed, err
	}
	routed, err := m.Reach(ctx, routeWait)
	if err != nil {
		return killed, err
	}
	if _, running := launcher.Running(node); !running || !routed[h.Name] {
		return killed, crmplan.Errorf(crmplan.ECONFLICT, "host %s is not reachable through the mesh: its node is down already", h.Name).In("--chaos").
			Try("crmplan status --stack %s", stack)
	}
	out, err := m.Run(ctx, h.Name, mesh.Work{Type: wire.WorkKill})
	if err != nil {
		return killed, err
	}
	if err := json.Unmarshal([]byte(out.Text), &killed); err != nil {
		return killed, fmt.Errorf("host %s: what the kill unit killed: %w", h.Name, err)
	}
	if err := launcher.Kill(node); err != nil {
		return killed, fmt.Errorf("host %s: %w", h.Name, err)
	}
	if killed.Programs == 0 {
		return killed, crmplan.Errorf(crmplan.ECONFLICT, "host %s runs no process to kill", h.Name).In("--chaos").
			Try("crmplan status --stack %s", stack)
	}
	return killed, nil
}

// LedgerKeys returns the ledger keys of a chaos run (crmplan verify
// --chaos) that the CRM database on the stack's current primary (after any
// failover) holds, read by a unit on that host: this machine may have no
// route to the database (an isolated stack's LAN).
func LedgerKeys(ctx context.Context, stateDir, stack, run string) ([]string, error) {
	h, err := resolveHostNow(ctx, stateDir, stack, string(topology.RoleDBPrimary))
	if err != nil {
		return nil, err
	}
	m, err := mesh.Open(stateDir, stack, targets())
	if err != nil {
		return nil, err
	}
	if _, err := m.Reach(ctx, routeWait); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(wire.LedgerQuery{Database: appDatabase, Run: run})
	if err != nil {
		return nil, err
	}
	out, err := m.Run(ctx, h.Name, mesh.Work{Type: wire.WorkLedger, Payload: bytes.NewReader(payload)})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	var l wire.Ledger
	if err := json.Unmarshal([]byte(out.Text), &l); err != nil {
		return nil, fmt.Errorf("host %s: ledger: %w", h.Name, err)
	}
	return l.Keys, nil
}
