package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/supervise"
	"github.com/crmplan/crmplan/provision/watchdog"
)

const tokenWatchdog = PluginName + ":index:Watchdog"

// Watchdog is the automatic-failover watchdog of a plan whose db-replica
// tier says failover: automatic: `crmplan watchdog` under a supervisor on
// the first replica's host (in the LAN, next to what it promotes), started
// by the host's agent through the mesh. On the ssh target the same
// resource type is also the lease guard on the primary's host (Guard:
// `crmplan guard`), which the watchdog fences through.
type Watchdog struct{}

// WatchdogArgs are the inputs of a Watchdog.
type WatchdogArgs struct {
	Host     string   `pulumi:"host"`
	HostDir  string   `pulumi:"hostDir"`
	StateDir string   `pulumi:"stateDir"`
	Stack    string   `pulumi:"stack"`
	Primary  string   `pulumi:"primary"`  // NAME=HOSTDIR
	Replicas []string `pulumi:"replicas"` // NAME=HOSTDIR each
	// PrimarySystemID ties the watchdog to one initdb of the primary.
	PrimarySystemID string `pulumi:"primarySystemId"`
	Sync            bool   `pulumi:"sync"`
	IntervalMs      int    `pulumi:"intervalMs"`
	Probes          int    `pulumi:"probes"`
	// Guard: this is the lease guard on the primary's host, not the
	// watchdog. GuardAddr set, the watchdog fences through that guard (the
	// ssh target: package watchdog's doc says why).
	Guard       bool   `pulumi:"guard,optional"`
	GuardAddr   string `pulumi:"guardAddr,optional"`
	LeaseMs     int    `pulumi:"leaseMs,optional"`
	LeaseSecret string `pulumi:"leaseSecret,optional" provider:"secret"`
}

// WatchdogState is a watchdog as recorded in state.
type WatchdogState struct {
	WatchdogArgs
	SupervisorPID int  `pulumi:"supervisorPid"`
	Running       bool `pulumi:"running"`
}

func (*Watchdog) Annotate(a infer.Annotator) { a.SetToken("index", "Watchdog") }

func (a WatchdogArgs) spec(stop bool) wire.WatchdogSpec {
	return wire.WatchdogSpec{Stop: stop, StateDir: a.StateDir, Stack: a.Stack, Primary: a.Primary, Replicas: a.Replicas, Sync: a.Sync,
		Interval: (time.Duration(a.IntervalMs) * time.Millisecond).String(), Probes: a.Probes,
		Guard: a.Guard, GuardAddr: a.GuardAddr, LeaseSecret: a.LeaseSecret, Lease: (time.Duration(a.LeaseMs) * time.Millisecond).String()}
}

func (a WatchdogArgs) process() string {
	if a.Guard {
		return "guard"
	}
	return "watchdog"
}

// run sends the watchdog's spec to its host's agent, which starts it under
// the host's supervisor (stopping one that runs) or stops it.
func (a WatchdogArgs) run(ctx context.Context, m *mesh.Mesh, stop bool) (int, error) {
	payload, err := json.Marshal(a.spec(stop))
	if err != nil {
		return 0, err
	}
	reply, err := watchdogUnit(ctx, m, a.Host, payload, false)
	return reply.SupervisorPID, err
}

// watchdogUnit runs a crmplan-watchdog unit on host; query for one that
// only reads (mesh.Work's Query).
func watchdogUnit(ctx context.Context, m *mesh.Mesh, host string, payload []byte, query bool) (wire.WatchdogReply, error) {
	var reply wire.WatchdogReply
	out, err := m.Run(ctx, host, mesh.Work{Type: wire.WorkWatchdog, Payload: bytes.NewReader(payload), Query: query})
	if err != nil {
		return reply, providerError(err)
	}
	lines := strings.Split(strings.TrimSpace(out.Text), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &reply); err != nil {
		return reply, fmt.Errorf("host %s: watchdog: reply %q: %w", host, out.Text, err)
	}
	return reply, nil
}

// start starts the watchdog through the mesh.
func (a WatchdogArgs) start(ctx context.Context) (int, error) {
	m, err := openMesh(ctx, a.StateDir, a.Stack)
	if err != nil {
		return 0, providerError(err)
	}
	return a.run(ctx, m, false)
}

// Create starts the watchdog under its host's supervisor, through the mesh.
func (*Watchdog) Create(ctx context.Context, req infer.CreateRequest[WatchdogArgs]) (infer.CreateResponse[WatchdogState], error) {
	resp := infer.CreateResponse[WatchdogState]{ID: req.Inputs.Host + "/" + req.Inputs.process(), Output: WatchdogState{WatchdogArgs: req.Inputs}}
	if req.DryRun {
		return resp, nil
	}
	pid, err := req.Inputs.start(ctx)
	resp.Output.SupervisorPID, resp.Output.Running = pid, err == nil
	return resp, err
}

// Read reports a dead supervisor as not running.
func (*Watchdog) Read(ctx context.Context, req infer.ReadRequest[WatchdogArgs, WatchdogState]) (infer.ReadResponse[WatchdogArgs, WatchdogState], error) {
	st := req.State
	proc := supervise.Process{Name: st.process(), Dir: st.HostDir}
	st.SupervisorPID, st.Running = proc.Running()
	return infer.ReadResponse[WatchdogArgs, WatchdogState]{ID: req.ID, Inputs: req.Inputs, State: st}, nil
}

// Diff moves the watchdog with its host; anything else restarts it.
func (*Watchdog) Diff(ctx context.Context, req infer.DiffRequest[WatchdogArgs, WatchdogState]) (infer.DiffResponse, error) {
	d := diffInputs(req.State.WatchdogArgs, req.Inputs, "host", "hostDir")
	markNotRunning(&d, req.State.Running)
	d.DeleteBeforeReplace = true
	return d, nil
}

// Update restarts the watchdog with its new inputs.
func (*Watchdog) Update(ctx context.Context, req infer.UpdateRequest[WatchdogArgs, WatchdogState]) (infer.UpdateResponse[WatchdogState], error) {
	out := WatchdogState{WatchdogArgs: req.Inputs}
	if req.DryRun {
		return infer.UpdateResponse[WatchdogState]{Output: out}, nil
	}
	pid, err := req.Inputs.start(ctx)
	out.SupervisorPID, out.Running = pid, err == nil
	return infer.UpdateResponse[WatchdogState]{Output: out}, err
}

// Delete stops the watchdog through the mesh; with the mesh gone (an
// interrupted destroy) the host's target reaps it with the host.
func (*Watchdog) Delete(ctx context.Context, req infer.DeleteRequest[WatchdogState]) (infer.DeleteResponse, error) {
	a := req.State.WatchdogArgs
	m, err := mesh.Open(a.StateDir, a.Stack, targets())
	if err != nil || !m.Has(a.Host) {
		return infer.DeleteResponse{}, nil
	}
	if err := m.Start(ctx); err != nil {
		return infer.DeleteResponse{}, providerError(err)
	}
	_, err = a.run(ctx, m, true)
	if err != nil && a.Guard {
		// A guard whose host cannot be asked (lost, as after the failover
		// it guarded against) goes with its host; left running, all it
		// does is keep that host's old primary fenced.
		return infer.DeleteResponse{}, nil
	}
	return infer.DeleteResponse{}, err
}

// watchdog registers the automatic-failover watchdog (failover: automatic)
// and gives the application database URLs that name every database host:
// with target_session_attrs=read-write pgx connects to whichever is the
// primary, so the api servers follow a promotion without being restarted,
// and the URLs stay the same across the failover and the rebuild.
func (d *deployer) watchdog(primary *primaryResource, appPw pulumi.StringOutput, urls *dbURLs) error {
	l := d.l
	if !l.AutoFailover || l.Primary == nil || len(l.Replicas) == 0 {
		return nil
	}
	writers := append([]LocalHost{*l.Primary}, l.Replicas...)
	urls.primary = appPw.ApplyT(func(pw string) string { return pgFailoverURL(pw, writers, "read-write") }).(pulumi.StringOutput)
	// Reads likewise go to a standby whichever it is, to the primary when
	// none is left; still only once the first replica exists (its URL).
	readers := append(append([]LocalHost(nil), l.Replicas...), *l.Primary)
	after := urls.replica
	if after == (pulumi.StringOutput{}) {
		after = appPw
	}
	urls.replica = pulumi.All(appPw, after).ApplyT(func(v []any) string {
		return pgFailoverURL(v[0].(string), readers, "prefer-standby")
	}).(pulumi.StringOutput)
	if l.Promotion != nil {
		return nil // it did its job; after a rebuild crmplan failover is manual again
	}
	var replicas []string
	for _, r := range l.Replicas {
		replicas = append(replicas, watchdog.DBHost{Name: r.Name, Dir: r.Dir}.String())
	}
	on := l.Replicas[0]
	in := pulumi.Map{
		"host": pulumi.String(on.Name), "hostDir": pulumi.String(on.Dir),
		"stateDir": pulumi.String(l.StateDir), "stack": pulumi.String(l.Stack),
		"primary": pulumi.String(watchdog.DBHost{Name: l.Primary.Name, Dir: l.Primary.Dir}.String()), "replicas": pulumi.ToStringArray(replicas),
		"primarySystemId": primary.SystemID, "sync": pulumi.Bool(l.Sync),
		"intervalMs": pulumi.Int(int(watchdog.DefaultProbeInterval / time.Millisecond)), "probes": pulumi.Int(watchdog.DefaultProbes),
	}
	deps := []pulumi.Resource{primary}
	if l.leaseFailover() {
		guard, err := d.leaseGuard(primary, in)
		if err != nil {
			return err
		}
		// The primary's files are on another machine: the watchdog probes
		// it as its own host's replica streams from it, and promotes only
		// that replica (the next apply repoints any other).
		in["primary"] = pulumi.String(l.Primary.Name)
		in["replicas"] = pulumi.ToStringArray(replicas[:1])
		deps = append(deps, guard)
	}
	var res plainResource
	return d.ctx.RegisterResource(tokenWatchdog, on.Name+"-watchdog", in,
		&res, pulumi.Parent(d.hosts[on.Name]), pulumi.DependsOn(deps), pulumi.DeleteBeforeReplace(true))
}

// leaseGuard registers the lease guard on the primary's host and adds the
// lease to the watchdog's inputs (in): package watchdog's doc says why the
// ssh target fences by a lease. Its secret is the stack's, made once, and
// reaches only the two database hosts, in the units' payloads.
func (d *deployer) leaseGuard(primary *primaryResource, in pulumi.Map) (pulumi.Resource, error) {
	l := d.l
	secret, err := d.secret("failover-lease-secret")
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(l.Primary.Address, strconv.Itoa(GuardPort))
	lease := pulumi.Int(int(watchdog.DefaultLease / time.Millisecond))
	in["guardAddr"], in["leaseMs"], in["leaseSecret"] = pulumi.String(addr), lease, pulumi.ToSecret(secret.Value)
	var res plainResource
	err = d.ctx.RegisterResource(tokenWatchdog, l.Primary.Name+"-guard", pulumi.Map{
		"host": pulumi.String(l.Primary.Name), "hostDir": pulumi.String(l.Primary.Dir),
		"stateDir": pulumi.String(l.StateDir), "stack": pulumi.String(l.Stack),
		"primary": pulumi.String(l.Primary.Name), "replicas": pulumi.ToStringArray(nil),
		"primarySystemId": primary.SystemID, "sync": pulumi.Bool(l.Sync), "intervalMs": pulumi.Int(0), "probes": pulumi.Int(0),
		"guard": pulumi.Bool(true), "guardAddr": pulumi.String(addr), "leaseMs": lease, "leaseSecret": pulumi.ToSecret(secret.Value),
	}, &res, pulumi.Parent(d.hosts[l.Primary.Name]), pulumi.DependsOn([]pulumi.Resource{primary}), pulumi.DeleteBeforeReplace(true))
	return &res, err
}

// pgFailoverURL is the CRM's URL of every database host, the one to use
// chosen at connect time by target_session_attrs (attrs).
func pgFailoverURL(pw string, hosts []LocalHost, attrs string) string {
	addrs := make([]string, len(hosts))
	for i, h := range hosts {
		addrs[i] = fmt.Sprintf("%s:%d", h.Address, h.Port)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(appUser, pw), Host: strings.Join(addrs, ","),
		Path: "/" + appDatabase, RawQuery: "sslmode=disable&connect_timeout=2&target_session_attrs=" + attrs}
	return u.String()
}
