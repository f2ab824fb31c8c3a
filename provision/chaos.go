package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// ResolveHost names the host target means on a deployed stack right now:
// a host name (api-1), a role (db-primary: the host that holds it now,
// after any failover; the first one for a role with several) or app-N,
// the seeds' word for the N-th application server (api-N).
func ResolveHost(stateDir, stack, target string) (stackdir.InventoryHost, error) {
	inv, err := stackdir.LoadInventory(stateDir, stack)
	if err != nil {
		return stackdir.InventoryHost{}, err
	}
	if p, err := loadPromotion(stackdir.Paths{StateDir: stateDir, Stack: stack}); err == nil {
		p.swapRoles(&inv)
	}
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

// KillHost kill -9s every process of a host of the local target, as if the
// machine lost power: the supervisors first (so that nothing restarts the
// rest), then their programs with their process groups (PostgreSQL's
// backends), then the host's Receptor node. It returns the host's name.
func KillHost(stateDir, stack, target string) (string, error) {
	h, err := ResolveHost(stateDir, stack, target)
	if err != nil {
		return "", err
	}
	if h.Dir == "" {
		return h.Name, crmplan.Errorf(crmplan.EINVALID, "host %s has no local directory: only the local target can be killed", h.Name).In("--chaos")
	}
	procs := processes(h.Dir)
	for _, p := range procs {
		if p.SupervisorPID > 0 {
			_ = syscall.Kill(p.SupervisorPID, syscall.SIGKILL)
		}
	}
	killed := 0
	for _, p := range procs {
		if p.PID > 0 {
			_ = syscall.Kill(-p.PID, syscall.SIGKILL) // its group, when it leads one
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
			killed++
		}
	}
	pidFiles, _ := filepath.Glob(filepath.Join(h.Dir, "*", "receptor.pid"))
	for _, f := range pidFiles {
		if b, err := os.ReadFile(f); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if killed == 0 {
		return h.Name, crmplan.Errorf(crmplan.ECONFLICT, "host %s runs no process to kill", h.Name).In("--chaos").
			Try("crmplan status --stack %s", stack)
	}
	return h.Name, nil
}

// PrimaryURL is a superuser connection URL to the CRM database on the
// stack's current primary (after any failover), for checks that read the
// database directly: the chaos run's write ledger.
func PrimaryURL(ctx context.Context, stateDir, stack string) (string, error) {
	h, err := ResolveHost(stateDir, stack, string(topology.RoleDBPrimary))
	if err != nil {
		return "", err
	}
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return "", fmt.Errorf("host %s: %w", h.Name, err)
	}
	return srv.URL(appDatabase), nil
}
