package agent

import (
	"slices"
	"testing"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// TestUpstreamAndLedger asks a replica's agent about its primary, as
// crmplan failover does from the replica's host: caught up, lagging (its
// replay paused), and with the primary down; a primary's agent refuses the
// question. The primary's agent reads a chaos run's ledger keys back from
// the CRM's tables.
func TestUpstreamAndLedger(t *testing.T) {
	ctx, self, run, log := pgRunner(t)
	hosts := pgHosts(t, 2)
	primary, replica := hosts[0], hosts[1]
	pAddr, rAddr := "127.10.249.31:5432", "127.10.249.32:5432"
	run(primary, wire.PostgresOp{Action: wire.PostgresInit, Name: "db-1", Listen: pAddr, Password: "pw", Database: "crm", AppUser: "crm", AppPassword: "app"})
	app := "postgres://crm:app@" + pAddr + "/crm?sslmode=disable"
	execSQL(t, ctx, app, `CREATE TABLE contacts (email text); CREATE TABLE activities (subject text);
		INSERT INTO contacts VALUES ('lt-run1-1@ledger.example'), ('lt-run2-1@ledger.example'), ('lt-run1-9@elsewhere.example');
		INSERT INTO activities VALUES ('call back [lt-Run1-2]'), ('call back [lt-Run2-2]'), ('no key')`)

	l, err := primary.Ledger(ctx, wire.LedgerQuery{Database: "crm", Run: "Run1"})
	if slices.Sort(l.Keys); err != nil || !slices.Equal(l.Keys, []string{"lt-Run1-2", "lt-run1-1"}) {
		t.Errorf("ledger of Run1: %v, %v; want lt-run1-1 (contact) and lt-Run1-2 (activity)", l.Keys, err)
	}
	if _, err := replica.Ledger(ctx, wire.LedgerQuery{Database: "crm", Run: "Run1"}); err == nil {
		t.Error("a host without a server read a ledger")
	}

	run(replica, wire.PostgresOp{Action: wire.PostgresReplica, Name: "db-2", Listen: rAddr, Primary: pAddr, Password: "pw"})
	st := run(replica, wire.PostgresOp{Action: wire.PostgresUpstream, WaitMs: 5000})
	if u := st.Upstream; u == nil || u.Addr != pAddr || !u.Primary || !u.Replayed || u.LagBytes != 0 || st.WALPosition <= 0 {
		t.Fatalf("caught-up replica's upstream: %+v, position %d; want %s answering as primary, replayed", u, st.WALPosition, pAddr)
	}
	if _, err := primary.Postgres(ctx, self, wire.PostgresOp{Action: wire.PostgresUpstream}, log); err == nil {
		t.Error("a primary's agent reported an upstream")
	}

	super := func(addr string) string { return "postgres://postgres:pw@" + addr + "/postgres?sslmode=disable" }
	execSQL(t, ctx, super(rAddr), "SELECT pg_wal_replay_pause()")
	execSQL(t, ctx, app, "INSERT INTO contacts SELECT 'filler-' || n FROM generate_series(1, 1000) n")
	lagging := run(replica, wire.PostgresOp{Action: wire.PostgresUpstream, WaitMs: 300})
	if u := lagging.Upstream; u == nil || !u.Primary || u.Replayed || u.LagBytes <= 0 || u.Reason == "" {
		t.Errorf("paused replica's upstream: %+v; want a primary it has not caught up with, by some bytes", u)
	}
	execSQL(t, ctx, super(rAddr), "SELECT pg_wal_replay_resume()")

	run(primary, wire.PostgresOp{Action: wire.PostgresStop})
	down := run(replica, wire.PostgresOp{Action: wire.PostgresUpstream, WaitMs: 300})
	if u := down.Upstream; u == nil || u.Primary || u.Reason == "" || down.WALPosition < st.WALPosition {
		t.Errorf("upstream with the primary stopped: %+v, position %d; want not a primary, and why", u, down.WALPosition)
	}
}
