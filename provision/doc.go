// Package provision deploys a topology, along one path on every target:
//
//  1. A target adapter (provision/target) makes each host exist and
//     reachable: its address, its directory, and its Receptor node (the
//     bootstrap). The loopback target, the default, makes a directory
//     under the stack's state dir and a 127.0.0.0/8 address per host.
//  2. The stack's Receptor mesh (provision/mesh) links the hosts' nodes:
//     LAN nodes dial out to a relay in the DMZ, the controller (this
//     process) peers with the relay only, links are mutual TLS with a CA
//     per stack, and work is signed.
//  3. Every role of every seed — PostgreSQL primary and replicas, the
//     CRM's schema and seed data, crm web, api, worker and the supporting
//     roles, the failover watchdog — is installed, configured, started,
//     checked, restarted and stopped on its host by work units that the
//     host's agent (provision/mesh/agent) runs. The provider never starts
//     a process on a host itself.
//
// Pulumi holds the desired state. The hosts, the mesh and every role are
// resources of crmplan's own provider (ServePlugin; the crmplan binary is
// the plugin through a pulumi-resource-crmplan symlink in the state dir),
// driven by an Automation API inline program with a file backend,
// passphrase secrets and no plugin downloads, so preview, diff, update,
// refresh and destroy are Pulumi's and so is the state. A tier's hosts are
// created together; an update of a tier rolls one host at a time.
//
// Apply, Preview, Destroy, GetStatus and Probe are what the CLI calls. Beside it:
//
//	target/       the Target interface: what makes a host exist and reachable
//	target/loopback/  the default adapter; target/targettest: the contract
//	              suite every adapter passes
//	target/netns/ the isolated adapter (apply --isolate): a network
//	              namespace per host, the links enforced by a router's
//	              nftables policy; isolate.go gives it the stack's zones
//	              and policy through stackdir.Paths.Network
//	target/ssh/   existing machines (apply --target ssh --inventory FILE),
//	              over SSH; sshtarget.go places the hosts at the
//	              inventory's addresses, logs in to every machine first and
//	              saves the inventory at stackdir.Paths.Machines for the
//	              provider; target/ssh/sshtest: the rig of sshd namespaces
//	stackdir/     the state dir's layout (stackdir.Paths) and the Inventory
//	              apply leaves for verify, report and status; no Pulumi, so
//	              reports and loadgen read a stack without linking this package
//	mesh/         the Receptor mesh (nodes, PKI, work, rolling): controller side
//	mesh/wire/    what the controller and a host's agent agree on: work types,
//	              role spec, PostgreSQL operations, watchdog spec
//	mesh/agent/   the agent: the work a host runs for the controller
//	supervise/    the supervisor that keeps a host's processes running
//	health/       crm's /healthz and /readyz, asked by the agent
//	watchdog/     the automatic-failover watchdog (crmplan watchdog) and the
//	              failover record (failover.json) it writes
//	terraform/    `crmplan export --format terraform`
//
// mesh/wire, mesh/agent, supervise, health and watchdog are the host side:
// they import nothing of the planning side (Pulumi, sizing, topology, this
// package), so that what runs on a host is built without it: the hosts run
// cmd/crmplan-host (Binaries.Host), a twentieth of crmplan's size, not
// crmplan. TestLayers in the module root keeps it so.
//
// Where to add a role: its name and port in topology (types.go, roles.go),
// its links in topology's default policy, its program as a crm subcommand
// (cmd/crm) and in the agent's validRoles (mesh/agent/role.go), and what it
// is started with in program.go (or roles.go for the supporting roles).
// Where to add a target: a package under target/ implementing
// target.Target, whose tests run targettest.Run, registered in targets()
// (host.go), or, like ssh, made per stack from what apply saved.
package provision
