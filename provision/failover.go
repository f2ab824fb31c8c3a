package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/provision/watchdog"
	"github.com/crmplan/crmplan/topology"
)

// swapRoles shows the promoted replica of p as the primary and the retired
// primary as a replica that is not streaming (until it is rebuilt).
func swapRoles(p *watchdog.Promotion, inv *stackdir.Inventory) {
	if p == nil {
		return
	}
	for i, h := range inv.Hosts {
		switch h.Name {
		case p.Promoted:
			inv.Hosts[i].Role = string(topology.RoleDBPrimary)
		case p.Retired:
			inv.Hosts[i].Role = string(topology.RoleDBReplica)
		}
	}
}

// FailoverResult is what a failover did.
type FailoverResult struct {
	Promoted string        `json:"promoted"`
	Retired  string        `json:"retired"`
	LagBytes int64         `json:"lag_bytes"`  // replay lag when checked; -1 when the primary was unreachable
	Promote  time.Duration `json:"promote_ns"` // fence + pg_promote
	Apply    Result        `json:"apply"`
	Total    time.Duration `json:"total_ns"`
}

// Failover promotes the stack's first replica and repoints every api server
// at it through an apply. It refuses when the replica has not replayed what
// the primary wrote (or, with the primary down, when replication is
// asynchronous and the loss cannot be known) unless force.
func Failover(ctx context.Context, r Request, force bool) (FailoverResult, error) {
	start := time.Now()
	paths := r.paths()
	if p, err := watchdog.LoadPromotion(paths); err != nil || p != nil {
		if err == nil {
			err = crmplan.Errorf(crmplan.ECONFLICT, "stack %s already failed over to %s at %s", r.Stack, p.Promoted, p.At.Format(time.RFC3339)).
				Try("crmplan status --stack %s", r.Stack)
		}
		return FailoverResult{}, err
	}
	layout, err := r.layout()
	if err != nil {
		return FailoverResult{}, err
	}
	if layout.Primary == nil || len(layout.Replicas) == 0 {
		return FailoverResult{}, crmplan.Errorf(crmplan.EINVALID, "stack %s has no replica to fail over to", r.Stack).
			In("tiers").Try("add a tier with role: db-replica, then crmplan apply")
	}
	old, repl, others := failoverCandidate(ctx, layout)
	res := FailoverResult{Promoted: repl.Name, Retired: old.Name}
	replica, err := pgserver.Open(PostgresDir(repl.Dir))
	if err != nil {
		return res, fmt.Errorf("host %s: %w", repl.Name, err)
	}
	if res.LagBytes, err = checkLag(ctx, old, repl, replica, layout.Sync); err != nil && !force {
		return res, err
	}
	m, err := openMesh(ctx, paths.StateDir, paths.Stack)
	if err != nil {
		return res, err
	}
	// A watchdog (failover: automatic) would race this failover for the
	// primary: stopped first, by the agents of the replicas' hosts.
	if layout.AutoFailover {
		for _, h := range layout.Replicas {
			wd := WatchdogArgs{Host: h.Name, StateDir: paths.StateDir, Stack: paths.Stack}
			if _, err := wd.run(ctx, m, true); err != nil {
				return res, fmt.Errorf("host %s: stop the watchdog: %w", h.Name, err)
			}
		}
	}
	t0 := time.Now()
	// Fence first: writes still reaching the old primary after the replica
	// was promoted would be lost.
	if err := fenceThroughMesh(ctx, m, old, repl, layout.Target == netns.Name); err != nil {
		return res, err
	}
	if _, err := postgresVia(ctx, m, repl.Name, wire.PostgresOp{Action: wire.PostgresPromote}); err != nil {
		return res, err
	}
	res.Promote = time.Since(t0)
	if err := watchdog.SavePromotion(paths, watchdog.Promotion{Promoted: repl.Name, Retired: old.Name, At: time.Now().UTC()}); err != nil {
		return res, err
	}
	log := r.Out
	if log == nil {
		log = io.Discard
	}
	watchdog.Repoint(ctx, watchdog.DBHost{Name: repl.Name, Dir: repl.Dir}, replica, others, layout.Sync, log)
	res.Apply, err = Apply(ctx, r)
	res.Total = time.Since(start)
	return res, err
}

// fenceThroughMesh stops the old primary's server through its host's
// agent. A host the mesh cannot reach (lost with its node) is fenced by
// that loss only if its server does not answer as a primary either: two
// primaries taking writes are worse than none.
// On an isolated stack this machine has no route to the old primary: the
// replica's host, which has, tries its port (a probe unit), and a server
// that accepts the connection counts as running.
func fenceThroughMesh(ctx context.Context, m *mesh.Mesh, old, repl LocalHost, isolated bool) error {
	_, err := postgresVia(ctx, m, old.Name, wire.PostgresOp{Action: wire.PostgresStop})
	if err == nil {
		return nil
	}
	answers := func() error { return answersAsPrimary(ctx, old) }
	if isolated {
		answers = func() error {
			res, perr := probeFrom(ctx, m, repl.Name, true, []string{old.addr()})
			if perr != nil {
				return nil // neither reached: cannot tell, so refuse below
			}
			if res[0].Result == wire.ProbeOpen {
				return nil
			}
			return errors.New(res[0].Result)
		}
	}
	if perr := answers(); perr != nil {
		return nil // down with its host
	}
	return crmplan.Errorf(crmplan.ECONFLICT, "host %s: cannot fence the primary: its agent does not answer (%v) but its server still takes writes", old.Name, err).
		In("host "+old.Name).Try("stop host %s, then crmplan failover --plan PLAN.yaml", old.Name)
}

// answersAsPrimary is nil when host's server accepts a connection and is
// not in recovery.
func answersAsPrimary(ctx context.Context, host LocalHost) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%d/postgres?sslmode=disable&connect_timeout=1", host.Address, host.Port))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return nil // it answered (refusing us): it runs
		}
		return err
	}
	defer conn.Close(context.Background())
	var recovering bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering); err != nil {
		return err
	}
	if recovering {
		return errors.New("in recovery")
	}
	return nil
}

// failoverCandidate picks the replica to promote: the one that received
// the most WAL of those that answer (the first when none does, so that the
// refusal names it), and the others, which will follow it.
func failoverCandidate(ctx context.Context, layout Layout) (old, next LocalHost, others []watchdog.DBHost) {
	var candidates []watchdog.DBHost
	byName := map[string]LocalHost{}
	for _, h := range layout.Replicas {
		candidates = append(candidates, watchdog.DBHost{Name: h.Name, Dir: h.Dir})
		byName[h.Name] = h
	}
	best, others, err := watchdog.MostAdvanced(ctx, candidates)
	if err != nil {
		best, others = candidates[0], candidates[1:]
	}
	return *layout.Primary, byName[best.Name], others
}

// checkLag waits a few seconds for the replica to replay what the primary
// has written. It returns the lag in bytes (-1: primary unreachable) and
// an ECONFLICT error when failing over now would lose acknowledged writes.
func checkLag(ctx context.Context, old, repl LocalHost, replica *pgserver.Server, sync bool) (int64, error) {
	primary, err := pgserver.Open(PostgresDir(old.Dir))
	if err == nil {
		if _, live := agent.PostgresProcess(old.Dir).Running(); live {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = primary.WaitReplayed(wctx, replica)
			cancel()
			if err == nil {
				return 0, nil
			}
			lag := int64(-1)
			if r, rerr := watchdog.Replication(ctx, old.Dir, repl.Name); rerr == nil {
				lag = r.LagBytes
			}
			return lag, crmplan.Errorf(crmplan.ECONFLICT, "replica %s lags the primary by %d bytes of WAL: writes acknowledged by %s would be lost (%v)",
				repl.Name, lag, old.Name, err).In("host " + repl.Name).
				Try("crmplan status --plan PLAN.yaml   # wait for the lag to reach 0, or: crmplan failover --force")
		}
	}
	if sync {
		return -1, nil // every acknowledged commit was applied on the replica
	}
	return -1, crmplan.Errorf(crmplan.ECONFLICT, "primary %s is down and replication is asynchronous: how many acknowledged writes %s lacks cannot be known",
		old.Name, repl.Name).In("host " + old.Name).
		Try("crmplan failover --force --plan PLAN.yaml   # accept losing the writes not yet streamed")
}

// Rebuild makes the retired primary of a failed-over stack a streaming
// replica of the promoted one (a fresh base backup: what it wrote after the
// replica last heard from it is discarded) and points reads at it.
func Rebuild(ctx context.Context, r Request) (Result, error) {
	paths := r.paths()
	p, err := watchdog.LoadPromotion(paths)
	if err != nil {
		return Result{}, err
	}
	if p == nil {
		return Result{}, crmplan.Errorf(crmplan.ECONFLICT, "stack %s has not failed over: nothing to rebuild", r.Stack).
			Try("crmplan failover --plan PLAN.yaml")
	}
	p.Rebuild = true
	if err := watchdog.SavePromotion(paths, *p); err != nil {
		return Result{}, err
	}
	return Apply(ctx, r)
}
