package provision

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan/provision/supervise"
)

const tokenWatchdog = PluginName + ":index:Watchdog"

// Watchdog is the automatic-failover watchdog of a plan whose db-replica
// tier says failover: automatic: `crmplan watchdog` under a supervisor on
// the first replica's host (in the LAN, next to what it promotes).
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
}

// WatchdogState is a watchdog as recorded in state.
type WatchdogState struct {
	WatchdogArgs
	SupervisorPID int  `pulumi:"supervisorPid"`
	Running       bool `pulumi:"running"`
}

func (*Watchdog) Annotate(a infer.Annotator) { a.SetToken("index", "Watchdog") }

func (a WatchdogArgs) process() (supervise.Process, error) {
	self, err := selfPath()
	if err != nil {
		return supervise.Process{}, err
	}
	argv := []string{self, "watchdog", "--state-dir", a.StateDir, "--stack", a.Stack, "--primary", a.Primary,
		"--interval", (time.Duration(a.IntervalMs) * time.Millisecond).String(), "--probes", fmt.Sprint(a.Probes)}
	for _, r := range a.Replicas {
		argv = append(argv, "--replica", r)
	}
	if a.Sync {
		argv = append(argv, "--sync")
	}
	return supervise.Process{Name: "watchdog", Dir: a.HostDir, Argv: argv}, nil
}

// Create starts the watchdog under a supervisor.
func (*Watchdog) Create(ctx context.Context, req infer.CreateRequest[WatchdogArgs]) (infer.CreateResponse[WatchdogState], error) {
	resp := infer.CreateResponse[WatchdogState]{ID: req.Inputs.Host + "/watchdog", Output: WatchdogState{WatchdogArgs: req.Inputs}}
	if req.DryRun {
		return resp, nil
	}
	pid, err := startWatchdog(req.Inputs)
	resp.Output.SupervisorPID, resp.Output.Running = pid, err == nil
	return resp, err
}

func startWatchdog(a WatchdogArgs) (int, error) {
	proc, err := a.process()
	if err != nil {
		return 0, err
	}
	pid, err := proc.Start(proc.Argv[0])
	if err != nil {
		return 0, fmt.Errorf("host %s: %w", a.Host, err)
	}
	return pid, nil
}

// Read reports a dead supervisor as not running.
func (*Watchdog) Read(ctx context.Context, req infer.ReadRequest[WatchdogArgs, WatchdogState]) (infer.ReadResponse[WatchdogArgs, WatchdogState], error) {
	st := req.State
	proc := supervise.Process{Name: "watchdog", Dir: st.HostDir}
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
	pid, err := startWatchdog(req.Inputs) // Start stops the old one first
	out.SupervisorPID, out.Running = pid, err == nil
	return infer.UpdateResponse[WatchdogState]{Output: out}, err
}

// Delete stops the watchdog.
func (*Watchdog) Delete(ctx context.Context, req infer.DeleteRequest[WatchdogState]) (infer.DeleteResponse, error) {
	return infer.DeleteResponse{}, stopWatchdog(req.State.HostDir)
}

// stopWatchdog stops the watchdog on a host, if one runs there: crmplan
// failover does so before it fences the primary itself.
func stopWatchdog(hostDir string) error {
	proc, err := supervise.Load(supervise.Process{Name: "watchdog", Dir: hostDir}.SpecPath())
	if err != nil {
		return nil // never started there
	}
	return proc.Stop()
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
		replicas = append(replicas, dbHost{Name: r.Name, Dir: r.Dir}.String())
	}
	on := l.Replicas[0]
	var res plainResource
	return d.ctx.RegisterResource(tokenWatchdog, on.Name+"-watchdog", pulumi.Map{
		"host": pulumi.String(on.Name), "hostDir": pulumi.String(on.Dir),
		"stateDir": pulumi.String(l.StateDir), "stack": pulumi.String(l.Stack),
		"primary": pulumi.String(dbHost{Name: l.Primary.Name, Dir: l.Primary.Dir}.String()), "replicas": pulumi.ToStringArray(replicas),
		"primarySystemId": primary.SystemID, "sync": pulumi.Bool(l.Sync),
		"intervalMs": pulumi.Int(int(DefaultProbeInterval / time.Millisecond)), "probes": pulumi.Int(DefaultProbes),
	}, &res, pulumi.Parent(d.hosts[on.Name]), pulumi.DependsOn([]pulumi.Resource{primary}), pulumi.DeleteBeforeReplace(true))
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
