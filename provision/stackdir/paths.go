// Package stackdir is the layout of crmplan's state dir and the inventory
// apply leaves there. It is the one place that spells the state dir's
// paths, so provision (which writes them), the mesh, loadgen, reports and
// the CLI (which read them) cannot drift apart; and it imports no Pulumi,
// so the packages that only read a stack's state do not link the engine.
package stackdir

import "path/filepath"

// Paths lays out a state dir:
//
//	STATE/bin/pulumi                    symlink to the Pulumi CLI
//	STATE/bin/pulumi-resource-crmplan   symlink to the crmplan binary (the provider plugin)
//	STATE/pulumi-home/                  PULUMI_HOME: no plugin cache, no credentials elsewhere
//	STATE/backend/                      the file backend holding every stack's state
//	STATE/STACK/                        one stack:
//	  passphrase                        its secrets passphrase
//	  placement.json                    the address each host was given
//	  inventory.json                    what apply leaves for verify, report and status
//	  failover.json                     the record of a failover
//	  workspace/                        the Pulumi workspace
//	  mesh/                             the mesh controller's files
//	  hosts/HOST/                       one local host (HOST/mesh: its mesh node)
//	  results/                          verify's results (latest.json the last)
//	  generators/NAME/                  a load generator on this machine (verify --generators)
//	  probe.json                        crmplan probe's last matrix
//	  web-ca.crt                        the CA clients of the web tier trust
//	  tls/                              the web hosts' certificates and keys (0700)
//	  reports/                          report's default output
type Paths struct {
	StateDir string
	Stack    string
}

func (p Paths) Bin() string        { return filepath.Join(p.StateDir, "bin") }
func (p Paths) Home() string       { return filepath.Join(p.StateDir, "pulumi-home") }
func (p Paths) Backend() string    { return filepath.Join(p.StateDir, "backend") }
func (p Paths) StackDir() string   { return filepath.Join(p.StateDir, p.Stack) }
func (p Paths) Workspace() string  { return filepath.Join(p.StackDir(), "workspace") }
func (p Paths) HostsDir() string   { return filepath.Join(p.StackDir(), "hosts") }
func (p Paths) Passphrase() string { return filepath.Join(p.StackDir(), "passphrase") }

// Placement holds the address each host was given, so that they stay put.
func (p Paths) Placement() string { return filepath.Join(p.StackDir(), "placement.json") }

// Network is an isolated stack's zones and policy, which apply writes for
// the provider's netns target (crmplan apply --isolate).
func (p Paths) Network() string { return filepath.Join(p.StackDir(), "network.json") }

// Machines is the inventory of an ssh target's stack (crmplan apply
// --target ssh --inventory FILE), as apply read it, for the provider's ssh
// target and the commands after apply.
func (p Paths) Machines() string { return filepath.Join(p.StackDir(), "machines.json") }

// Inventory is where apply writes the stack's Inventory.
func (p Paths) Inventory() string { return filepath.Join(p.StackDir(), "inventory.json") }

// LastUp is the record of the stack's last up that succeeded: the
// fingerprint of everything its program was made from, which lets the next
// apply skip an up that has nothing to do.
func (p Paths) LastUp() string { return filepath.Join(p.StackDir(), "last-up.json") }

// Digests caches the SHA-256 of the binaries a stack deploys, by file
// identity, so that apply does not read hundreds of megabytes every time.
func (p Paths) Digests() string { return filepath.Join(p.StackDir(), "digests.json") }

// Checkpoint is the Pulumi file backend's state of the stack (the
// project's stack file; Pulumi may write it gzipped, with ".gz" appended).
func (p Paths) Checkpoint(project string) string {
	return filepath.Join(p.Backend(), ".pulumi", "stacks", project, p.Stack+".json")
}

// FailoverRecord is where a failover is recorded.
func (p Paths) FailoverRecord() string { return filepath.Join(p.StackDir(), "failover.json") }

// WatchdogHost names the host whose watchdog keeps the stack's failover
// record on its machine (failover: automatic on the ssh target), for the
// planning side to fetch it from through the mesh.
func (p Paths) WatchdogHost() string { return filepath.Join(p.StackDir(), "watchdog-host") }

// MeshDir holds the mesh controller's node and the mesh's saved layout.
func (p Paths) MeshDir() string { return filepath.Join(p.StackDir(), "mesh") }

// HostDir is the directory of one local host.
func (p Paths) HostDir(host string) string { return filepath.Join(p.HostsDir(), host) }

// Results is where verify keeps the stack's load-test results.
func (p Paths) Results() string { return filepath.Join(p.StackDir(), "results") }

// LocalGenerator is the directory of a load generator on this machine
// (verify --generators N on a stack without loadgen hosts).
func (p Paths) LocalGenerator(name string) string {
	return filepath.Join(p.StackDir(), "generators", name)
}

// LatestResult is the last verify result (loadgen.SaveResult writes it
// beside the timestamped one), which calibrate and report read.
func (p Paths) LatestResult() string { return filepath.Join(p.Results(), "latest.json") }

// LatestFindMax is the last verify --find-max result, which report reads.
func (p Paths) LatestFindMax() string { return filepath.Join(p.Results(), "findmax-latest.json") }

// ProbeResult is where crmplan probe keeps its last matrix (SaveProbe).
func (p Paths) ProbeResult() string { return filepath.Join(p.StackDir(), "probe.json") }

// WebCA is the certificate of the CA whose certificates the web tier
// presents: what verify's k6 and crmplan's other clients trust.
func (p Paths) WebCA() string { return filepath.Join(p.StackDir(), "web-ca.crt") }

// WebTLSDir holds the web hosts' certificates and keys (HOST.crt,
// HOST.key), kept so that an apply does not issue new ones every time.
func (p Paths) WebTLSDir() string { return filepath.Join(p.StackDir(), "tls") }

// Reports is where report writes by default.
func (p Paths) Reports() string { return filepath.Join(p.StackDir(), "reports") }

// HostMeshDir is where the mesh node of the host whose files are in
// hostDir keeps its config, certificates and log.
func HostMeshDir(hostDir string) string { return filepath.Join(hostDir, "mesh") }
