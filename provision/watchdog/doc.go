// Package watchdog is the automatic-failover watchdog (failover:
// automatic): `crmplan watchdog`, which a replica's host runs under its
// supervisor, started by the host's agent through the mesh. It probes the
// primary, fences it once lost, promotes the most advanced replica and
// records the promotion (Promotion), which the planning side reads on
// every apply.
//
// On the local and isolated targets every host's files are on one
// machine: the watchdog reads the primary's and the replicas' servers from
// their host directories, fences the primary by marking and stopping it
// there, and writes the stack's failover.json in the state dir.
//
// On the ssh target the database hosts are different machines, and none
// of them holds the operator's work-signing key: a replica's host able to
// run work on the primary's host could run anything there, so the
// watchdog cannot fence through the mesh. It fences by a lease instead
// (Guard, SendLease): the primary's host runs a guard, started by its own
// agent, that the watchdog renews every probe interval; a guard that has
// not been renewed for the lease (DefaultLease) fences its own server,
// and the watchdog promotes only after the lease it last had granted has
// surely run out, or at once when the guard answers that it fenced the
// server on the watchdog's signed request (the primary's postgres died but
// its host did not). The messages are signed with a secret of the stack's
// own, which apply gives only to the two database hosts, and each is bound
// to the guard's fresh nonce: whoever reaches the guard's port without the
// secret can neither fence the primary nor keep a lost one alive, and a
// recorded message cannot be replayed. A lease rather than a fence-only
// channel because the common loss is the whole host: a channel to a dead
// host cannot confirm anything, and "it does not answer" is also what a
// live primary cut off from the replica looks like, one that api servers
// may still reach. The price is the other way round: the guard cannot tell
// a lost watchdog from a partition, so when the replica's host is lost
// the primary fences itself one lease later (the watchdog disarms the
// guard when it is stopped on purpose, by apply, failover or destroy).
// Two primaries taking writes are worse than none. The watchdog records
// its promotion on its own host (wire.PromotionFile), and the planning
// side fetches it through the host's agent.
//
// It is host side: it imports nothing of Pulumi, sizing, topology or
// provision, so that what runs on a host links none of them. TestLayers in
// the module root keeps it so.
package watchdog
