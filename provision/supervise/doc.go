// Package supervise keeps a host's long-running programs running. A
// Process is started under a supervisor, the crmplan-host binary's
// `crmplan-host supervise --spec FILE` command (Run), in a session of its own so
// that it outlives whoever started it (crmplan, the Pulumi provider, a
// mesh work unit), and is restarted with backoff whenever it exits.
//
// It is host-side code: the host's agent (provision/mesh/agent) and the
// local target's provider both run processes with it, and it imports
// nothing of the planning side, so the agent links no Pulumi, sizing or
// topology.
package supervise
