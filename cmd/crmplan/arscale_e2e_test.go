package main

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// scaleIntegratorsUnderLoad is seed 002's "a new ARSRV can be added
// without any downtime ... automatically discovered and made part of
// cluster", on the arint subtest's deployed stack: the integrator tier
// goes from n to n+1 servers and back, each an apply while k6 drives the
// plan's rate, its integration calls through the access proxies as the
// seed's clients make them. Each direction must fail no request (k6's own
// count); after the scale out both proxies balance the new integrator and
// the admin consoles list it as a ready member; after the scale in both
// are back to n. No process that stays may restart: not the proxies, the
// consoles, the integrators, the web and api tiers, the scheduler, nor
// PostgreSQL (its pid and start time, as for the crm roles).
func scaleIntegratorsUnderLoad(t *testing.T, e *deployEnv, stack, plan string) {
	const tier = "  - role: integration\n    zone: lan-a\n    spread: [lan-b]\n    ha: true\n"
	scaleTierOutAndIn(t, e, stack, plan, topology.RoleIntegration, tier, "integrators",
		func(paths stackdir.Paths, direction, plan string, want int) {
			scaleIntegrators(t, e, paths, direction, plan, want)
		})
}

// scaleTierOutAndIn raises the tier of role (its lines in plan: tier) by
// one server and lowers it back, each by scale (an apply under load and
// its checks), and checks after each that no process that stays (see
// stayingProcesses) restarted. what names the tier in messages.
func scaleTierOutAndIn(t *testing.T, e *deployEnv, stack, plan string, role topology.Role, tier, what string,
	scale func(paths stackdir.Paths, direction, plan string, want int)) {
	t.Helper()
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: stack}
	inv := loadInventory(t, paths)
	n := len(hostsOf(inv, role))
	before := stayingProcesses(t, paths, inv)

	out := rewritePlan(t, plan, tier, tier+fmt.Sprintf("    min: %d\n", n+1))
	scale(paths, "out", out, n+1)
	sameProcesses(t, what+" scaled out", before, stayingProcesses(t, paths, inv))
	scale(paths, "in", plan, n)
	sameProcesses(t, what+" scaled in", before, stayingProcesses(t, paths, inv))
}

// scaleIntegrators applies plan (want integrators) under load and checks
// k6's failures, the proxies' rotation and the consoles' members.
func scaleIntegrators(t *testing.T, e *deployEnv, paths stackdir.Paths, direction, plan string, want int) {
	t.Helper()
	applyScaled(t, e, paths, topology.RoleIntegration, "integrators", direction, plan)
	inv := loadInventory(t, paths)
	var esbs []string
	for _, h := range hostsOf(inv, topology.RoleIntegration) {
		esbs = append(esbs, "http://"+net.JoinHostPort(h.Address, strconv.Itoa(h.Port)))
	}
	if len(esbs) != want {
		t.Fatalf("integrators scale %s: the inventory has %d integrators, want %d", direction, len(esbs), want)
	}
	slices.Sort(esbs)
	for _, p := range hostsOf(inv, topology.RoleProxy) {
		var inRotation []string
		for _, b := range backendStates(t, wire.AdminSocket(p.Dir, "proxy")) {
			if b.Healthy && !b.Drained {
				inRotation = append(inRotation, b.URL)
			}
		}
		slices.Sort(inRotation)
		if !slices.Equal(inRotation, esbs) {
			t.Errorf("integrators scale %s: %s balances %v, want the integrators %v", direction, p.Name, inRotation, esbs)
		}
	}
	// Every integrator a ready member, through the proxy's /admin/.
	checkAdminConsole(t, inv)
}

// applyScaled applies plan, which scales role's tier (what, in the log)
// in direction ("out", "in"), under load (applyUnderLoad), and checks what
// every such scale must do: a host of role created or deleted, no request
// failed (k6's own count), the rate held, and PostgreSQL not restarted for
// new settings. It returns the apply's output.
func applyScaled(t *testing.T, e *deployEnv, paths stackdir.Paths, role topology.Role, what, direction, plan string) string {
	t.Helper()
	applied, took, lr, busy := applyUnderLoad(t, e, paths.Stack, plan, 90*time.Second, 8*time.Second)
	t.Logf("BENCH %s scale %s apply under load %.1fs", what, direction, took.Seconds())
	verb := map[string]string{"out": "created", "in": "deleted"}[direction]
	if !strings.Contains(applied, verb+"    Host "+string(role)+"-") {
		t.Errorf("%s scale %s: the apply %s no %s host", what, direction, verb, role)
	}
	if strings.Contains(applied, "PostgreSQL restarts") {
		t.Errorf("%s scale %s: the apply says PostgreSQL restarts, want its settings unchanged", what, direction)
	}
	t.Logf("%s scale %s: %d requests, %.1f req/s achieved, %d failed, %d dropped", what, direction, lr.Requests, lr.AchievedRate, lr.Failed, lr.Dropped)
	if lr.Failed != 0 {
		t.Errorf("%s scale %s: %d requests failed, want 0: %v", what, direction, lr.Failed, lr.Errors)
	}
	atRate(t, what+" scale "+direction, lr, 0.93, busy)
	return applied
}

func loadInventory(t *testing.T, paths stackdir.Paths) stackdir.Inventory {
	t.Helper()
	inv, err := stackdir.LoadInventory(paths.StateDir, paths.Stack)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func hostsOf(inv stackdir.Inventory, role topology.Role) []stackdir.InventoryHost {
	var out []stackdir.InventoryHost
	for _, h := range inv.Hosts {
		if topology.Role(h.Role) == role {
			out = append(out, h)
		}
	}
	return out
}

// stayingProcesses identifies, by host, the processes of inv that a scaled
// tier (the integrators, the workers) must leave running: the crm roles
// that balance, list or sit beside it, the tier's own servers, and
// PostgreSQL.
func stayingProcesses(t *testing.T, paths stackdir.Paths, inv stackdir.Inventory) map[string]apiProcess {
	t.Helper()
	out := map[string]apiProcess{}
	for _, role := range []topology.Role{topology.RoleProxy, topology.RoleWeb, topology.RoleAPI, topology.RoleIntegration,
		topology.RoleScheduler, topology.RoleAdmin, topology.RoleWorker} {
		var names []string
		for _, h := range hostsOf(inv, role) {
			names = append(names, h.Name)
		}
		maps.Copy(out, roleProcesses(t, paths, string(role), names))
	}
	for _, role := range []topology.Role{topology.RoleDBPrimary, topology.RoleDBReplica} {
		for _, h := range hostsOf(inv, role) {
			pid := localPostgresPID(h)
			if pid == 0 {
				t.Fatalf("%s: no running postgres", h.Name)
			}
			out[h.Name] = processAt(t, "postgres on "+h.Name, pid)
		}
	}
	return out
}
