package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// What verify loads and how: the target (a URL, or the stack apply
// deployed), the k6 that drives it, and the faults --chaos injects.

// verifyTarget fills o's target, stack and results dir: from --target, or
// from the inventory that apply wrote for the plan's stack, whose target
// also tells in.here the hardware the stack runs on.
func verifyTarget(f verifyFlags, in *verifyInput, o *loadgen.Options) error {
	stateDir, err := stateDirFlag(f.stateDir)
	if err != nil {
		return err
	}
	stack := f.stack
	if stack == "" && in.plan != nil {
		stack = in.plan.Name
	}
	if f.target != "" {
		if stack == "" {
			stack = "adhoc"
		}
		o.Target = loadgen.Target{URL: f.target, Email: f.email, Password: f.password, CAFile: f.caFile}
	} else {
		if stack == "" {
			return crmplan.Errorf(crmplan.EINVALID, "nothing to verify: give a plan whose stack is deployed, or a target").
				In("--plan").Try("crmplan verify --plan plan.yaml   # or: --target URL --rate 150")
		}
		inv, err := stackdir.LoadInventory(stateDir, stack)
		if crmplan.ErrorCode(err) == crmplan.ENOTFOUND {
			// Verifying a stack that is not there is a usage error: exit 2.
			return crmplan.Errorf(crmplan.EINVALID, "%s", err.Error()).In("--plan").
				Try("crmplan apply --plan %s   # or: crmplan verify --target URL", orPlaceholder(f.plan))
		}
		if err != nil {
			return err
		}
		o.Target = inventoryTarget(inv, in.model)
		if in.est != nil {
			in.deployed = deployedEstimate(*in.est, inv)
		}
		if hw, ok := provision.TargetHardware(inv.Target); ok && hw.SharedCores > 0 {
			in.here = &sizing.Here{Cores: hw.SharedCores, GeneratorMs: sizing.DefaultGeneratorMs}
			// Other processes on this machine take cores the stack cannot
			// have: verify measures them with every scrape.
			o.Machine = loadgen.Machine{Cores: hw.SharedCores, Busy: hw.Busy}
		}
		if f.email != "" {
			o.Target.Email, o.Target.Password = f.email, f.password
		}
	}
	o.Stack = stack
	o.ResultsDir = stackdir.Paths{StateDir: stateDir, Stack: stack}.Results()
	return nil
}

// inventoryTarget reads the web URL, the load user and the hosts to scrape;
// each host's cores are its tier's in the model, so utilization is per core
// as the model predicts it. Integration-class calls go to the integration
// (ESB) hosts, where the model charges them, on the local target, where
// the generator reaches every host; on an isolated stack what it reaches
// is the network policy's business, so there they stay on the web tier.
//
// Where an access proxy fronts the integrators (seed 002's ARDPX), the
// calls go through the proxies instead, on every target: that is how the
// seed's clients reach the cluster ("access the system outside its LAN"),
// and it is what makes its promise hold for them: an ARSRV added is
// "automatically discovered and made part of cluster" by the proxies'
// reload, and one removed is drained by them before it stops. A client
// holding the integrators' own addresses, as k6 did, keeps calling one
// after it is gone: no real client of the seed does, so a load generator
// must not either.
func inventoryTarget(inv stackdir.Inventory, m sizing.Model) loadgen.Target {
	cores := map[string]int{}
	for _, t := range m.Tiers {
		cores[t.Role] = t.Cores
	}
	t := loadgen.Target{URL: inv.WebURL, Email: inv.LoadUser.Email, Password: inv.LoadUser.Password, CAFile: inv.WebCA}
	var proxies []string
	integrators := 0
	for _, h := range inv.Hosts {
		if h.Role == string(topology.RoleLoadgen) {
			continue // a generator, not part of the system under test
		}
		host := loadgen.Host{Name: h.Name, Role: h.Role, MetricsURL: h.MetricsURL, Cores: cores[h.Role]}
		if host.MetricsURL == "" {
			host.PID = localPostgresPID(h)
		}
		t.Hosts = append(t.Hosts, host)
		if topology.Role(h.Role) == topology.RoleIntegration && inv.Target == target.Default && h.Address != "" && h.Port > 0 {
			t.Integration = append(t.Integration, "http://"+net.JoinHostPort(h.Address, strconv.Itoa(h.Port)))
		}
		if topology.Role(h.Role) == topology.RoleProxy && h.Address != "" && h.Port > 0 {
			proxies = append(proxies, "http://"+net.JoinHostPort(h.Address, strconv.Itoa(h.Port)))
		}
		if topology.Role(h.Role) == topology.RoleIntegration {
			integrators++
		}
		if topology.Role(h.Role) == topology.RoleMarketing && h.Address != "" && h.Port > 0 {
			// In the DMZ, which users (and so k6, on every target)
			// reach: the marketing class goes there.
			t.Marketing = append(t.Marketing, "http://"+net.JoinHostPort(h.Address, strconv.Itoa(h.Port)))
		}
		if topology.Role(h.Role) == topology.RoleETL && inv.Target == target.Default && h.Address != "" && h.Port > 0 {
			// The migration jobs the seed's ETL server runs (verify --etl-every).
			t.ETL = append(t.ETL, "http://"+net.JoinHostPort(h.Address, strconv.Itoa(h.Port)))
		}
	}
	if len(proxies) > 0 && integrators > 0 {
		// topology's proxy fronts the integrators first (proxyServices).
		t.Integration = proxies
	}
	return t
}

// hereEstimate is the estimate the prediction here starts from: the
// deployed server counts when the inventory gave them.
func (in verifyInput) hereEstimate() sizing.Estimate {
	if in.deployed != nil {
		return *in.deployed
	}
	return *in.est
}

// deployedEstimate is est with each tier's servers counted in the
// inventory (a tier without hosts there keeps est's count).
func deployedEstimate(est sizing.Estimate, inv stackdir.Inventory) *sizing.Estimate {
	hosts := map[string]int{}
	for _, h := range inv.Hosts {
		hosts[h.Role]++
	}
	est.Tiers = slices.Clone(est.Tiers)
	for i, t := range est.Tiers {
		if n := hosts[t.Role]; n > 0 {
			est.Tiers[i].Servers = n
		}
	}
	return &est
}

// localPostgresPID finds the postmaster of a database host on the local
// target, whose CPU (with its backends') verify reads from /proc, since
// PostgreSQL has no /metrics. 0 when the host is not such a host.
func localPostgresPID(h stackdir.InventoryHost) int {
	if h.Dir == "" || !topology.Role(h.Role).IsPostgres() {
		return 0
	}
	srv, err := pgserver.Open(provision.PostgresDir(h.Dir))
	if err != nil {
		return 0
	}
	pid, ok := srv.PID()
	if !ok {
		return 0
	}
	return pid
}

// verifyGenerators picks the load generators of --generators: the
// stack's loadgen hosts through the mesh, or, when it has none, processes
// on this machine; none (verify's own k6) for one local generator.
func verifyGenerators(ctx context.Context, f verifyFlags, o *loadgen.Options) error {
	stateDir, err := stateDirFlag(f.stateDir)
	if err != nil {
		return err
	}
	var hosts []string
	if f.target == "" {
		inv, err := stackdir.LoadInventory(stateDir, o.Stack)
		if err != nil {
			return err
		}
		hosts = provision.LoadgenHosts(inv)
	}
	n := f.generators
	if len(hosts) == 0 {
		if n <= 1 {
			return nil
		}
		paths := stackdir.Paths{StateDir: stateDir, Stack: o.Stack}
		for i := range n {
			name := fmt.Sprintf("local-%d", i+1)
			o.Generators = append(o.Generators, loadgen.LocalGenerator{Host: name, Dir: paths.LocalGenerator(name), K6: o.K6})
		}
		return nil
	}
	if n == 0 {
		n = len(hosts)
	}
	if n > len(hosts) {
		return crmplan.Errorf(crmplan.EINVALID, "%d load generators asked for, but the stack has %d loadgen hosts (%s)",
			n, len(hosts), strings.Join(hosts, ", ")).In("--generators").
			Try("crmplan verify --generators %d   # or raise the loadgen tier's servers in the plan and apply", len(hosts))
	}
	gens, err := provision.LoadGenerators(ctx, stateDir, o.Stack, hosts[:n])
	if err != nil {
		return err
	}
	for _, g := range gens {
		o.Generators = append(o.Generators, g)
	}
	return nil
}

// verifyK6 is this binary's hidden k6 command, or the k6 CRMPLAN_K6 names
// (one built with xk6 and the k6/x/crmplan extension).
func verifyK6() loadgen.K6 {
	if k6 := os.Getenv("CRMPLAN_K6"); k6 != "" {
		return loadgen.K6{Command: []string{k6}}
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return loadgen.K6{Command: []string{exe, "k6"}}
}

// verifyChaos parses --chaos and checks every fault names a host of the
// deployed stack before anything starts; the kills go through the mesh
// and the host's target (provision.KillHost).
func verifyChaos(f verifyFlags, in verifyInput, o loadgen.Options) (*loadgen.Chaos, error) {
	if f.target != "" || f.findMax {
		return nil, crmplan.Errorf(crmplan.EINVALID, "--chaos needs a stack crmplan deployed, without --target or --find-max").
			In("--chaos").Try("crmplan verify --plan plan.yaml --chaos kill:api-1@30s")
	}
	faults, err := loadgen.ParseChaos(f.chaos, in.scenario.Duration)
	if err != nil {
		return nil, err
	}
	stateDir, err := stateDirFlag(f.stateDir)
	if err != nil {
		return nil, err
	}
	for _, flt := range faults {
		if _, err := provision.ResolveHost(stateDir, o.Stack, flt.Target); err != nil {
			return nil, err
		}
	}
	return &loadgen.Chaos{
		Faults: faults,
		Inject: func(ctx context.Context, flt loadgen.Fault) (string, time.Time, error) {
			return provision.KillHost(ctx, stateDir, o.Stack, flt.Target)
		},
		Missing: func(ctx context.Context, run string, keys []string) ([]string, error) {
			read := func(ctx context.Context, run string) ([]string, error) {
				return provision.LedgerKeys(ctx, stateDir, o.Stack, run)
			}
			return loadgen.LedgerMissing(ctx, read, run, keys)
		},
	}, nil
}
