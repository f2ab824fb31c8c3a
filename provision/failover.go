package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
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
	if p, err := syncPromotion(ctx, paths); err != nil || p != nil {
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
	m, err := openMesh(ctx, paths.StateDir, paths.Stack)
	if err != nil {
		return FailoverResult{}, err
	}
	old, repl, st, others, err := failoverCandidate(ctx, m, layout)
	res := FailoverResult{Promoted: repl.Name, Retired: old.Name}
	if err != nil && !force {
		return res, err
	}
	if res.LagBytes, err = checkLag(old, repl, st, layout.Sync); err != nil && !force {
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
	// The servers change roles outside Pulumi from here: the apply below
	// must run it, even if this failover stops before its record.
	if err := forgetLastUp(paths); err != nil {
		return res, err
	}
	t0 := time.Now()
	// Fence first: writes still reaching the old primary after the replica
	// was promoted would be lost.
	if err := fenceThroughMesh(ctx, m, old, repl); err != nil {
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
	repointThroughMesh(ctx, m, repl, others, layout.Sync, log)
	res.Apply, err = Apply(ctx, r)
	res.Total = time.Since(start)
	return res, err
}

// fenceThroughMesh stops the old primary's server through its host's
// agent. A host the mesh cannot reach (lost with its node) is fenced by
// that loss only if its server does not answer as a primary either, as
// the replica's host sees it (this machine may have no route to it: an
// isolated stack's LAN): two primaries taking writes are worse than none.
func fenceThroughMesh(ctx context.Context, m *mesh.Mesh, old, repl LocalHost) error {
	_, err := postgresVia(ctx, m, old.Name, wire.PostgresOp{Action: wire.PostgresStop})
	if err == nil {
		return nil
	}
	st, uerr := postgresVia(ctx, m, repl.Name, wire.PostgresOp{Action: wire.PostgresUpstream})
	if uerr == nil && st.Upstream != nil && !st.Upstream.Primary {
		return nil // down with its host
	}
	why := "its server still takes writes"
	if uerr != nil {
		why = fmt.Sprintf("and %s cannot tell whether its server still takes writes (%v)", repl.Name, uerr)
	}
	return crmplan.Errorf(crmplan.ECONFLICT, "host %s: cannot fence the primary: its agent does not answer (%v) %s", old.Name, err, why).
		In("host "+old.Name).Try("stop host %s, then crmplan failover --plan PLAN.yaml", old.Name)
}

// repointThroughMesh has the replicas left behind (others) stream from the
// promoted one, and with synchronous replication has it wait for the first
// that follows, as apply's replicas do. Each step is a unit on the host
// that holds the server: on the ssh target the servers' files are on other
// machines. What fails is written to log and left to the apply that
// follows, which replaces a replica whose primary changed.
func repointThroughMesh(ctx context.Context, m *mesh.Mesh, promoted LocalHost, others []LocalHost, sync bool, log io.Writer) {
	var following []string
	for _, r := range others {
		if _, err := postgresVia(ctx, m, r.Name, wire.PostgresOp{Action: wire.PostgresFollow, Primary: promoted.addr()}); err != nil {
			fmt.Fprintf(log, "failover: repoint %s at %s: %v\n", r.Name, promoted.Name, err)
			continue
		}
		following = append(following, r.Name)
	}
	if !sync || len(following) == 0 {
		return
	}
	if _, err := postgresVia(ctx, m, promoted.Name, wire.PostgresOp{Action: wire.PostgresSync, Standby: following[0], Sync: true}); err != nil {
		fmt.Fprintf(log, "failover: %s stays asynchronous until the next apply: %v\n", promoted.Name, err)
	}
}

// upstreamWait is how long failover gives a replica to replay what the
// primary wrote before it counts the replica as lagging.
const upstreamWait = 5 * time.Second

// failoverCandidate picks the replica to promote: the one that received
// the most WAL of those whose agents answer (the first when none does, so
// that the refusal names it), with what its agent said of the primary
// (PostgresUpstream, waiting for the replay), and the others, which will
// follow it. Each replica's host is asked, not this machine, which may
// have no route to the database.
func failoverCandidate(ctx context.Context, m *mesh.Mesh, layout Layout) (old, next LocalHost, st wire.PostgresStatus, others []LocalHost, err error) {
	best := -1
	var errs []error
	for i, h := range layout.Replicas {
		s, uerr := postgresVia(ctx, m, h.Name, wire.PostgresOp{Action: wire.PostgresUpstream, WaitMs: int(upstreamWait / time.Millisecond)})
		if uerr != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", h.Name, uerr))
			continue
		}
		if best < 0 || s.WALPosition > st.WALPosition {
			best, st = i, s
		}
	}
	if best < 0 {
		best = 0
		err = crmplan.Errorf(crmplan.EUNAVAILABLE, "no replica to promote answers: %w", errors.Join(errs...)).
			In("host " + layout.Replicas[0].Name).Try("crmplan status --plan PLAN.yaml")
	}
	for i, h := range layout.Replicas {
		if i != best {
			others = append(others, h)
		}
	}
	return *layout.Primary, layout.Replicas[best], st, others, err
}

// checkLag tells from what the replica's host said of the primary (st)
// whether failing over now loses acknowledged writes. It returns the lag
// in bytes (-1: primary unreachable) and an ECONFLICT error when it does.
func checkLag(old, repl LocalHost, st wire.PostgresStatus, sync bool) (int64, error) {
	if u := st.Upstream; u != nil && u.Primary {
		if u.Replayed {
			return 0, nil
		}
		return u.LagBytes, crmplan.Errorf(crmplan.ECONFLICT, "replica %s lags the primary by %d bytes of WAL: writes acknowledged by %s would be lost (%s)",
			repl.Name, u.LagBytes, old.Name, u.Reason).In("host " + repl.Name).
			Try("crmplan status --plan PLAN.yaml   # wait for the lag to reach 0, or: crmplan failover --force")
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
	p, err := syncPromotion(ctx, paths)
	if err != nil {
		return Result{}, err
	}
	if p == nil {
		return Result{}, crmplan.Errorf(crmplan.ECONFLICT, "stack %s has not failed over: nothing to rebuild", r.Stack).
			Try("crmplan failover --plan PLAN.yaml")
	}
	p.Rebuild = true
	if err := forgetLastUp(paths); err != nil {
		return Result{}, err
	}
	if err := watchdog.SavePromotion(paths, *p); err != nil {
		return Result{}, err
	}
	return Apply(ctx, r)
}
