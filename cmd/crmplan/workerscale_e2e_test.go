package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// scaleWorkersUnderLoad is seed 001's "additional [back-end] servers can
// be employed, as load demands", on the longjump subtest's deployed stack:
// the worker tier goes from n to n+1 servers and back, each an apply while
// k6 drives the plan's rate through the web tier. A worker keeps a pool to
// the primary, and the sizing gives the tier one total whatever its count,
// so max_connections stays and PostgreSQL is not restarted (before, the
// new worker's pool raised it, and the restart failed every request in
// flight). Each direction must fail no request (k6's own count); the
// primary and the replica, the web and api tiers and the workers that stay
// keep their processes (pid and start time), the staying workers take the
// new share of the pool in place, and the new worker takes jobs.
func scaleWorkersUnderLoad(t *testing.T, e *deployEnv, stack, plan string) {
	inv := loadInventory(t, stackdir.Paths{StateDir: e.stateDir, Stack: stack})
	maxConns := primaryMaxConnections(t, inv)
	total := tierTotal(t, plan, topology.RoleWorker)
	scaleTierOutAndIn(t, e, stack, plan, topology.RoleWorker, "  - role: worker\n    zone: lan\n", "workers",
		func(paths stackdir.Paths, direction, plan string, want int) {
			scaleWorkers(t, e, paths, direction, plan, want, total)
			if got := primaryMaxConnections(t, inv); got != maxConns {
				t.Errorf("workers scaled %s: the primary's max_connections %s, was %s: want it unchanged", direction, got, maxConns)
			}
		})
}

// scaleWorkers applies plan (want workers) under load, checks k6's
// failures, that every worker keeps the same share of the tier's total
// pool, and that each runs a job against the database.
func scaleWorkers(t *testing.T, e *deployEnv, paths stackdir.Paths, direction, plan string, want, total int) {
	t.Helper()
	applyScaled(t, e, paths, topology.RoleWorker, "workers", direction, plan)
	inv := loadInventory(t, paths)
	workers := hostsOf(inv, topology.RoleWorker)
	if len(workers) != want {
		t.Fatalf("workers scale %s: the inventory has %d workers, want %d", direction, len(workers), want)
	}
	pools := map[string]int{}
	for _, w := range workers {
		pools[w.Name] = rolePool(t, paths, w.Name, "worker")
		before := workerJobs(t, w)
		addr := "http://" + net.JoinHostPort(w.Address, strconv.Itoa(w.Port))
		res, err := http.Post(addr+"/v1/jobs/report", "application/json", nil)
		if err != nil {
			t.Fatalf("workers scale %s: %s: %v", direction, w.Name, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("workers scale %s: %s ran the report job: %s %s, want 200", direction, w.Name, res.Status, body)
		}
		if after := workerJobs(t, w); after != before+1 {
			t.Errorf("workers scale %s: %s counts %v ok report jobs, was %v: want one more", direction, w.Name, after, before)
		}
	}
	t.Logf("workers scale %s: pools %v", direction, pools)
	for name, p := range pools {
		if p != total/want {
			t.Errorf("workers scale %s: pools %v (%s has %d): want the tier's %d over %d servers, %d each", direction, pools, name, p, total, want, total/want)
		}
	}
}

// workerJobs reads how many report jobs the worker has run with success,
// from its metrics.
func workerJobs(t *testing.T, w stackdir.InventoryHost) float64 {
	t.Helper()
	res, err := http.Get("http://" + net.JoinHostPort(w.Address, strconv.Itoa(w.Port)) + "/metrics")
	if err != nil {
		t.Fatalf("%s: %v", w.Name, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	const metric = `crm_worker_jobs_total{job="report",result="ok"} `
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, metric); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0 // none ran yet
}

// tierTotal is the sizing's total pool of role's tier in plan.
func tierTotal(t *testing.T, plan string, role topology.Role) int {
	t.Helper()
	p, err := readPlan(plan, "apply")
	if err != nil {
		t.Fatal(err)
	}
	l, err := topology.Lay(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range l.Estimate.Database.Pools {
		if tp.Role == string(role) {
			return tp.Total
		}
	}
	t.Fatalf("%s: the sizing gives %s no pool", plan, role)
	return 0
}

// primaryMaxConnections is the max_connections in the primary's
// configuration.
func primaryMaxConnections(t *testing.T, inv stackdir.Inventory) string {
	t.Helper()
	for _, h := range hostsOf(inv, topology.RoleDBPrimary) {
		srv, err := pgserver.Open(provision.PostgresDir(h.Dir))
		if err != nil {
			t.Fatal(err)
		}
		return srv.Settings()["max_connections"]
	}
	t.Fatal("no db-primary in the inventory")
	return ""
}
