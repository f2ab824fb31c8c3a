// Package provision deploys a topology. Its local target, the default,
// makes every host of the plan a directory under the stack's state dir and
// a loopback address in its zone's range, and runs the host's role there:
// PostgreSQL primary and streaming replica (via pgserver), crm web, api and
// worker, each under a supervisor (`crmplan supervise`) that restarts it
// and outlives crmplan.
//
// Pulumi does the provisioning. The hosts, servers and services are
// resources of crmplan's own provider (ServePlugin; the crmplan binary is
// the plugin through a pulumi-resource-crmplan symlink in the state dir),
// driven by an Automation API inline program with a file backend, passphrase
// secrets and no plugin downloads, so preview, diff, update, refresh and
// destroy are Pulumi's and so is the state.
//
// Apply, Preview, Destroy and GetStatus are what the CLI calls. Beside it:
//
//	stackdir/     the state dir's layout (stackdir.Paths) and the Inventory
//	              apply leaves for verify, report and status; no Pulumi, so
//	              reports and loadgen read a stack without linking this package
//	mesh/         the Receptor mesh the roles are deployed through (controller side)
//	mesh/wire/    what the controller and a host's agent agree on: work types,
//	              the role spec, crm web's admin socket
//	mesh/agent/   the agent: the work a host runs for the controller
//	supervise/    the supervisor that keeps a host's processes running
//	health/       crm's /healthz and /readyz, asked by agent and status alike
//
// The last four are the host side: they import nothing of the planning
// side (Pulumi, sizing, topology, this package), so that what runs on a
// host can be built without it (today hosts run the whole crmplan binary).
// TestLayers in the module root keeps it so.
package provision
