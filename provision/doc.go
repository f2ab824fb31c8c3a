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
// Apply, Preview, Destroy and GetStatus are what the CLI calls; Inventory is
// what apply leaves for verify, report and status.
package provision
