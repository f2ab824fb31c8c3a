package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/provision/target/ec2"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// Request is what preview, apply and destroy need on the local target.
type Request struct {
	StateDir string
	Stack    string // the plan's name
	Topology topology.Topology
	Settings sizing.PGSettings
	// BulkLoad are the primary's settings while the records are seeded.
	BulkLoad    sizing.BulkLoadSettings
	Replication topology.Replication
	Records     int64 // records to seed
	Users       int   // sales reps to seed
	// Pools are the connections each server of a db-client tier (api,
	// worker, etl) keeps, by role (the sizing's pools' per_server); a role
	// not in it keeps crm's default.
	Pools map[topology.Role]int
	Bins  Binaries
	// Failover is the db-replica tier's: manual (default) or automatic.
	Failover topology.Failover
	// Isolate makes every host a network namespace with the topology's
	// links enforced between them (the netns target; root on Linux).
	Isolate bool
	// Instances are the plan's instance types per role: what the hosts are
	// priced as (the inventory records them for preview's cost) and, on a
	// cloud target, launched as.
	Instances map[topology.Role]string
	// WebTLS secures the web tier's public port (HTTPS by default).
	WebTLS WebTLS
	// Target is "ssh" for existing machines, listed in the Inventory file
	// (provision/target/ssh); empty or "local" is the default.
	Target    string
	Inventory string
	// InstallPackages lets the ssh target's agents apt-get install the
	// Debian packages the hosts' roles run from, when a machine lacks one.
	InstallPackages bool
	// Purge makes destroy apt-get purge what the agents installed; without
	// it, destroy lists those packages and leaves them.
	Purge bool
	// Refresh runs Pulumi's up even when apply finds nothing changed,
	// refreshing every resource from its host first.
	Refresh bool
	// AWS, set by DeployAWS, places the hosts on the instances of the
	// plan's aws stack: Topology has their private addresses then.
	AWS *AWSHosts
	// Out receives a line per resource as Pulumi reports it, and the summary.
	Out io.Writer
	// Confirm, when set, is shown a preview's summary before anything
	// changes; returning false cancels. Nil applies without asking.
	Confirm func(summary string) bool
}

func (r Request) paths() stackdir.Paths { return stackdir.Paths{StateDir: r.StateDir, Stack: r.Stack} }

// Result is what an apply did.
type Result struct {
	Inventory stackdir.Inventory `json:"inventory"`
	Changes   map[string]int     `json:"changes"` // Pulumi's counts per operation: create, update, same, ...
	Cancelled bool               `json:"cancelled,omitempty"`
	// HostOnly are hosts whose role has no local process (cache, docstore,
	// integration, ...): they get a directory and an address, nothing runs.
	HostOnly []string `json:"host_only,omitempty"`
	// Skipped are the plan's hosts this target leaves out, with why.
	Skipped []Skip `json:"skipped,omitempty"`
	// PulumiRan: the apply ran Pulumi's up. When it did not, Unchanged
	// says why it had nothing to do.
	PulumiRan bool       `json:"pulumi_ran"`
	Unchanged *Unchanged `json:"unchanged,omitempty"`
}

// layout lays the topology out on the stack's target: the netns target
// when the request or an earlier apply of the stack isolated it (an
// isolated stack stays isolated until it is destroyed: an apply without
// --isolate would otherwise replace every host).
func (r Request) layout() (Layout, error) {
	paths := r.paths()
	in := LayoutInput{Paths: paths, Topology: r.Topology, Settings: r.Settings, BulkLoad: r.BulkLoad,
		Replication: r.Replication, Failover: r.Failover, Records: r.Records, Users: r.Users, Pools: r.Pools, Pinned: loadPinned(paths)}
	_, isolated, err := loadNetwork(paths)
	if err != nil {
		return Layout{}, err
	}
	if r.Isolate || isolated {
		in.Topology, in.Target = isolatedTopology(r.Topology), netns.Target{Stack: paths.HostsDir()}
	}
	if r.AWS != nil {
		// The hosts' directories have the same paths on the instances as
		// under this machine's state dir, where the mesh prepares their
		// nodes' files.
		in.Target = ec2.Target{}
		l, err := NewLayout(in)
		l.RelayPublic = r.AWS.RelayPublic
		return l, err
	}
	inv, onSSH, err := r.sshInventory()
	if err != nil {
		return Layout{}, err
	}
	var vpnLeft []string
	if onSSH {
		if in.Topology, vpnLeft, err = sshTopology(r.Topology, inv); err != nil {
			return Layout{}, err
		}
		in.Target = ssh.New(inv, r.Stack)
		in.HostDir = func(host string) string { return inv.Dir(r.Stack, host) }
	}
	l, err := NewLayout(in)
	if err != nil || !onSSH {
		return l, err
	}
	for _, h := range vpnLeft {
		l.Skipped = append(l.Skipped, Skip{Host: h, Why: vpnSkipped, Try: "crmplan apply --isolate --plan PLAN.yaml"})
	}
	l.RelayPublic, err = sshRelayPublic(in.Topology, inv)
	return l, err
}

// prepared is what a stack's program is made from, read on this machine.
type prepared struct {
	layout  Layout
	bins    Binaries
	version string
	// inputs and files fingerprint the up (lastup.go): what the program
	// is made from, and the stack's own files.
	inputs, files map[string]string
}

// prepare lays the topology out, reads what its program needs and opens
// its stack, unless skip, given the fingerprint, says the stack may not be
// needed: then the stack is nil.
func (r Request) prepare(ctx context.Context, skip func(prepared) bool) (*stack, prepared, error) {
	paths := r.paths()
	layout, err := r.layout()
	if err != nil {
		return nil, prepared{layout: layout, bins: r.Bins}, err
	}
	layout.InstallPackages = r.InstallPackages
	if layout.Target == netns.Name {
		n, err := isolatedNetwork(layout)
		if err == nil {
			err = saveNetwork(paths, n)
		}
		if err != nil {
			return nil, prepared{layout: layout, bins: r.Bins}, err
		}
	}
	if t, ok := layout.target.(*ssh.Target); ok {
		// Every machine is logged in to (and asked for drift) before any is
		// touched, while the rest is prepared here: opening the Pulumi
		// workspace takes CLI calls of its own, and the two overlap.
		layout.machines = checkMachines(ctx, paths, t, layout, loadPinned(paths), sameMachines(paths, t.Inventory))
		s, p, err := r.prepareStack(ctx, layout, skip)
		if cerr := p.layout.machines.wait(); cerr != nil {
			return nil, p, cerr
		}
		if r.Out != nil {
			fmt.Fprintln(r.Out, p.layout.machines)
		}
		if err == nil && !p.layout.machines.throughMesh {
			err = checkPackages(ctx, t, p.layout, rolePackages)
		}
		if err == nil {
			err = t.Inventory.Save(paths.Machines())
		}
		return s, p, err
	}
	return r.prepareStack(ctx, layout, skip)
}

// prepareStack reads what the layout's stack needs on this machine and
// opens the stack (unless skip).
func (r Request) prepareStack(ctx context.Context, layout Layout, skip func(prepared) bool) (*stack, prepared, error) {
	paths := r.paths()
	p := prepared{layout: layout, bins: r.Bins}
	var err error
	if p.layout.Promotion, err = syncPromotion(ctx, paths); err != nil {
		return nil, p, err
	}
	if p.layout.WebCerts, p.layout.WebCA, err = r.webTLS(p.layout); err != nil {
		return nil, p, err
	}
	if p.layout.Primary != nil {
		if err := checkReachable(r.StateDir); err != nil {
			return nil, p, err
		}
	}
	if p.bins, err = r.Bins.resolve(p.layout.runsCrm()); err != nil {
		return nil, p, err
	}
	in, err := readProgramInput(paths, p.layout, p.bins, r.Instances)
	if err != nil {
		return nil, p, err
	}
	if crm := in.Digests["crm"]; crm != "" {
		p.version = crm[:12] // what identifies the build
	}
	in.CrmVersion = p.version
	if p.inputs, err = programInputs(in); err != nil {
		return nil, p, err
	}
	if p.files, err = stackFiles(paths); err != nil {
		return nil, p, err
	}
	if skip != nil && skip(p) {
		return nil, p, nil
	}
	s, err := p.open(ctx, paths)
	return s, p, err
}

// open opens the stack with p's program.
func (p prepared) open(ctx context.Context, paths stackdir.Paths) (*stack, error) {
	return openStack(ctx, paths, p.bins, program(p.layout, p.bins, p.version))
}

// Preview prints what Apply would change and returns Pulumi's counts.
func Preview(ctx context.Context, r Request) (map[string]int, error) {
	s, p, err := r.prepare(ctx, nil)
	defer p.layout.closeTarget()
	if err != nil {
		return nil, err
	}
	return s.preview(ctx, r.Out)
}

func (s *stack) preview(ctx context.Context, out io.Writer) (map[string]int, error) {
	start := time.Now()
	prog, ch, done := startProgress(out, true)
	res, err := s.Preview(ctx, optpreview.EventStreams(ch), optpreview.Refresh())
	<-done
	if err != nil {
		return nil, prog.asError(err)
	}
	changes := map[string]int{}
	for op, n := range res.ChangeSummary {
		changes[string(op)] = n
	}
	fmt.Fprintf(out, "preview: %s\n", summary(changes, time.Since(start)))
	return changes, nil
}

func startProgress(out io.Writer, preview bool) (*progress, chan events.EngineEvent, chan struct{}) {
	prog := newProgress(out, preview)
	ch := make(chan events.EngineEvent)
	done := make(chan struct{})
	go prog.consume(ch, done)
	return prog, ch, done
}

// Apply converges the stack's target to the topology: Pulumi creates,
// updates or deletes hosts, PostgreSQL servers, the CRM schema and seed data
// and the CRM roles. When a host directory is missing or a supervisor is
// dead, Pulumi refreshes first, so that Read notices and the update repairs
// it. It writes the inventory.
//
// Pulumi is not run at all when its up provably has nothing to do: the
// program's inputs and the stack's files are those the last up that
// succeeded left (lastup.go), and no host drifted. r.Refresh runs it
// regardless, with a refresh of every resource.
func Apply(ctx context.Context, r Request) (Result, error) {
	start := time.Now()
	paths := r.paths()
	last := loadLastUp(paths)
	s, p, err := r.prepare(ctx, func(p prepared) bool { return !r.Refresh && last.changed(p.inputs, p.files) == "" })
	layout := p.layout
	defer layout.closeTarget()
	if err != nil {
		return Result{}, err
	}
	deployed := loadPinned(paths)
	drift := layout.drift(deployed)
	if s == nil && drift == "" {
		return r.unchanged(ctx, layout, last, start)
	}
	why := last.changed(p.inputs, p.files)
	switch {
	case r.Refresh:
		why = "--refresh"
	case why == "":
		why = "no change of inputs, but " + drift
	}
	fmt.Fprintf(r.Out, "pulumi: running: %s\n", why)
	if s == nil {
		if s, err = p.open(ctx, paths); err != nil {
			return Result{}, err
		}
	}
	if r.Confirm != nil {
		changes, err := s.preview(ctx, r.Out)
		if err != nil {
			return Result{}, err
		}
		if Changed(changes) && !r.Confirm(summary(changes, time.Since(start))) {
			return Result{Changes: changes, Cancelled: true}, nil
		}
	}
	if err := saveWatchdogHost(paths, layout); err != nil {
		return Result{}, err
	}
	// Before anything is created: an interrupted apply must not move hosts.
	if err := savePinned(paths, layout.Pinned()); err != nil {
		return Result{}, err
	}
	// Before the up: one killed halfway must not leave a record that says
	// the stack is as its inputs want it.
	if err := forgetLastUp(paths); err != nil {
		return Result{}, err
	}
	prog, ch, done := startProgress(r.Out, false)
	opts := []optup.Option{optup.EventStreams(ch)}
	switch {
	case drift != "":
		fmt.Fprintf(r.Out, "refreshing: %s\n", drift)
		opts = append(opts, optup.Refresh())
	case r.Refresh:
		fmt.Fprintf(r.Out, "refreshing: --refresh\n")
		opts = append(opts, optup.Refresh())
	}
	res, err := s.Up(ctx, opts...)
	<-done
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, crmplan.Errorf(crmplan.ECONFLICT, "apply interrupted: %w", ctx.Err()).
				Try("crmplan apply --plan PLAN.yaml   # converges from where it stopped")
		}
		return Result{}, prog.asError(err)
	}
	if err := enforceNetwork(ctx, paths); err != nil {
		return Result{}, err
	}
	changes := map[string]int{}
	if res.Summary.ResourceChanges != nil {
		changes = *res.Summary.ResourceChanges
	}
	inv := layout.inventory(p.version, res.Outputs, r.Instances)
	swapRoles(layout.Promotion, &inv)
	inv.AppliedAt = time.Now().UTC()
	if err := stackdir.SaveInventory(r.StateDir, inv); err != nil {
		return Result{}, err
	}
	if err := recordUp(paths, p.inputs); err != nil {
		// The stack is deployed; only the next apply's shortcut is lost.
		fmt.Fprintf(r.Out, "apply: %v: the next apply runs Pulumi\n", err)
	}
	fmt.Fprintf(r.Out, "apply: %s\n", summary(changes, time.Since(start)))
	return Result{Inventory: inv, Changes: changes, HostOnly: layout.Unsupported, Skipped: layout.Skipped, PulumiRan: true}, nil
}

// drift says why the stack's state may no longer match the machine (a host
// directory gone, a supervisor dead), or "" when it does. It checks what the
// provider's Read would, without the cost of a Pulumi refresh.
// Only hosts an earlier apply placed (deployed) are expected to exist.
func (l Layout) drift(deployed map[string]string) string {
	if t, ok := l.target.(*ssh.Target); ok {
		if l.machines != nil {
			return l.machines.drift
		}
		return l.sshDrift(t, deployed)
	}
	if l.Target == ec2.Name {
		// Its hosts' directories are on the instances; a host whose node
		// or role is down shows in the mesh, where the update repairs it.
		return ""
	}
	for _, h := range l.Hosts {
		if _, ok := deployed[h.Name]; !ok {
			continue
		}
		if _, err := os.Stat(h.Dir); err != nil {
			return "host " + h.Name + " has no directory"
		}
		if h.Role.IsPostgres() {
			if _, err := os.Stat(filepath.Join(PostgresDir(h.Dir), "data")); err != nil {
				return "host " + h.Name + " has no PostgreSQL data directory"
			}
		}
		specs, _ := filepath.Glob(filepath.Join(h.Dir, "*.spec.json"))
		for _, spec := range specs {
			proc, err := supervise.Load(spec)
			if err != nil {
				return "host " + h.Name + ": " + err.Error()
			}
			if _, ok := proc.Running(); !ok {
				return "host " + h.Name + ": " + proc.Name + " is not running"
			}
		}
	}
	return ""
}

// inventory describes the deployed layout for verify, report and status.
func (l Layout) inventory(version string, outputs auto.OutputMap, instances map[topology.Role]string) stackdir.Inventory {
	inv := stackdir.Inventory{Stack: l.Stack, Target: l.Target, WebURL: l.WebURL(), WebCA: l.WebCA, AppVersion: version, Records: l.Records, Users: l.Users}
	if key, ok := outputs[outPasswordKey].Value.(string); ok && l.runsCrm() {
		inv.SeededUsers = seededUsers([]byte(key), l.Users)
		inv.LoadUser = inv.SeededUsers[0]
	}
	if key, ok := outputs[outServiceKey].Value.(string); ok {
		inv.ServiceKey = key
	}
	for _, h := range l.Hosts {
		ih := stackdir.InventoryHost{Name: h.Name, Role: string(h.Role), Zone: h.Zone, Address: h.Address, Port: h.Port, Dir: h.Dir,
			Instance: instances[h.Role]}
		if (l.Target == netns.Name || l.Target == ssh.Name || l.Target == ec2.Name) && !l.outside(h.Zone) {
			// This machine has no route into an isolated stack's LAN, nor,
			// as a rule, into a LAN of machines: verify samples only the
			// DMZ's hosts.
			inv.Hosts = append(inv.Hosts, ih)
			continue
		}
		switch h.Role {
		case topology.RoleWeb, topology.RoleFailover, topology.RoleAPI, topology.RoleWorker, topology.RoleIntegration, topology.RoleDocStore, topology.RoleProxy, topology.RoleQueue, topology.RoleScheduler, topology.RoleCache, topology.RoleETL, topology.RoleKV, topology.RoleMail, topology.RoleAdmin, topology.RoleVPN, topology.RoleMarketing:
			ih.MetricsURL = h.URL() + "/metrics"
		}
		inv.Hosts = append(inv.Hosts, ih)
	}
	return inv
}

// Destroy deletes every resource of the stack, then the stack, its
// directory and, when no other stack is left, the whole state dir: no
// process, port or file remains.
func Destroy(ctx context.Context, r Request) (*DestroyResult, error) {
	start := time.Now()
	paths := r.paths()
	bins, err := r.Bins.resolve(false)
	if err != nil {
		return nil, err
	}
	noop := func(*pulumi.Context) error { return nil }
	s, err := openStack(ctx, paths, bins, noop)
	if err != nil {
		return nil, err
	}
	if r.Confirm != nil && !r.Confirm(fmt.Sprintf("destroy every host, process and database of stack %s", r.Stack)) {
		return nil, nil
	}
	// A destroy that stops halfway leaves a stack the next apply must up.
	if err := forgetLastUp(paths); err != nil {
		return nil, err
	}
	// What the agents installed is read before the hosts' directories,
	// which list it, go.
	var res DestroyResult
	machines, onSSH, err := r.sshInventory()
	if err != nil {
		return nil, err
	}
	var t *ssh.Target
	if onSSH {
		t = ssh.New(machines, r.Stack)
		defer t.Close()
		if res.Packages, err = leftPackages(ctx, t); err != nil {
			return nil, err
		}
	}
	if res.Changes, err = s.destroyAll(ctx, r.Out); err != nil {
		return nil, err
	}
	if err := destroyNetwork(ctx, paths); err != nil {
		return nil, err
	}
	if err := sweep(paths); err != nil {
		return nil, err
	}
	if r.Purge && t != nil {
		if err := purgePackages(ctx, t, res.Packages); err != nil {
			return nil, err
		}
		res.Purged, res.Packages = res.Packages, nil
	}
	fmt.Fprintf(r.Out, "destroy: %s\n", summary(res.Changes, time.Since(start)))
	for _, host := range slices.Sorted(maps.Keys(res.Packages)) {
		fmt.Fprintf(r.Out, "left on host %s's machine: Debian package %s, which crmplan installed (crmplan destroy --purge removes it)\n",
			host, strings.Join(res.Packages[host], ", "))
	}
	return &res, nil
}

// DestroyResult is what a destroy did.
type DestroyResult struct {
	Changes map[string]int `json:"changes"`
	// Packages are the Debian packages the agents installed on the ssh
	// target's machines, by host, which destroy leaves there; Purged are
	// those it removed (--purge).
	Packages map[string][]string `json:"packages_left,omitempty"`
	Purged   map[string][]string `json:"packages_purged,omitempty"`
}

// destroyAll deletes every resource of the stack, then the stack, and
// returns Pulumi's change counts.
func (s *stack) destroyAll(ctx context.Context, out io.Writer) (map[string]int, error) {
	prog, ch, done := startProgress(out, false)
	res, err := s.Destroy(ctx, optdestroy.EventStreams(ch))
	<-done
	if err != nil {
		return nil, prog.asError(err)
	}
	if err := s.Workspace().RemoveStack(ctx, s.paths.Stack); err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "remove stack %s: %w", s.paths.Stack, err)
	}
	changes := map[string]int{}
	if res.Summary.ResourceChanges != nil {
		changes = *res.Summary.ResourceChanges
	}
	return changes, nil
}

// sweep stops what an interrupted apply may have left running outside
// Pulumi's state, removes the stack's directory, and the state dir when it
// holds no other stack.
func sweep(paths stackdir.Paths) error {
	hosts, _ := os.ReadDir(paths.HostsDir())
	var errs []error
	for _, h := range hosts {
		errs = append(errs, stopAll(paths.HostDir(h.Name())))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.RemoveAll(paths.StackDir()); err != nil {
		return err
	}
	stacks, _ := filepath.Glob(filepath.Join(paths.Backend(), ".pulumi", "stacks", projectName, "*.json"))
	entries, _ := os.ReadDir(paths.StateDir)
	for _, e := range entries {
		switch filepath.Join(paths.StateDir, e.Name()) {
		case paths.Bin(), paths.Home(), paths.Backend():
		default:
			return nil // another stack, or something that is not ours
		}
	}
	if len(stacks) == 0 {
		return os.RemoveAll(paths.StateDir)
	}
	return nil
}

// loadPinned reads the host addresses of earlier applies; none is fine.
func loadPinned(paths stackdir.Paths) map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile(paths.Placement()); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func savePinned(paths stackdir.Paths, m map[string]string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := paths.Placement() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save placement: %w", err)
	}
	return os.Rename(tmp, paths.Placement())
}
