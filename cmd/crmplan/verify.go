package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// verifyFlags is everything `crmplan verify` reads from its command line.
type verifyFlags struct {
	plan, stateDir, stack   string
	target, email, password string
	rate, p95, errorRate    float64
	duration, rampUp        time.Duration
	emitScript              bool
	script                  string
	findMax                 bool
	stepFactor, maxRate     float64
	output                  string
	chaos                   string
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "load-test the deployed stack with k6 against the plan's SLO",
		UsageText: "crmplan verify --plan FILE [--rate R] [--duration 2m] [--find-max] [--emit-script | --script FILE] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Drives the plan's request rate (workload requests_per_second) at the deployed stack with
the embedded k6: an open workload (constant arrival rate) with the sizing model's request
mix, a ramp-up, and the plan's SLO (p95, error rate) as thresholds. While k6 runs, every
host's /metrics is scraped for CPU and throughput per tier. The result goes to
<state-dir>/<stack>/results/<timestamp>.json and latest.json; a missed SLO exits 99.

Examples:
   crmplan verify --plan plan.yaml
   crmplan verify --plan plan.yaml --rate 300 --duration 30s
   crmplan verify --plan plan.yaml --find-max --duration 30s
   crmplan verify --plan plan.yaml --emit-script > load.js   # edit, then:
   crmplan verify --plan plan.yaml --script load.js
   CRMPLAN_PASSWORD=... crmplan verify --target http://127.0.0.1:8080 --email admin@example.com --rate 50
   crmplan verify --plan plan.yaml --duration 90s --chaos kill:app-1@20s,kill:db-primary@50s

--chaos kills hosts of the deployed stack (kill -9 of all their processes, supervisors
included) at those times after the measured phase began: HOST is a host name (api-1), a
role (db-primary: whichever host holds it at that moment) or app-N (api-N). The result
then has an availability section: requests and failures per second, failed requests per
fault by class, the seconds they failed in, time to recover (RTO), and the write ledger:
every create carries a unique key, and after the run the acknowledged ones missing from
the database are counted (RPO, in writes).

A k6 built with xk6 and this module's extension can stand in for the embedded one:
set CRMPLAN_K6 to its path.`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "plan file (rate, mix, SLO, tiers)", EnvVars: []string{"CRMPLAN_PLAN"}},
			&cli.StringFlag{Name: "state-dir", Usage: "where apply keeps stacks (default ~/.crmplan)", EnvVars: []string{"CRMPLAN_STATE_DIR"}},
			&cli.StringFlag{Name: "stack", Usage: "stack name (default: the plan's name)", EnvVars: []string{"CRMPLAN_STACK"}},
			&cli.StringFlag{Name: "target", Usage: "URL of a CRM crmplan did not deploy", EnvVars: []string{"CRMPLAN_TARGET"}},
			&cli.StringFlag{Name: "email", Usage: "load user (default: the inventory's)", EnvVars: []string{"CRMPLAN_EMAIL"}},
			&cli.StringFlag{Name: "password", Usage: "load user's password; prefer the env var", EnvVars: []string{"CRMPLAN_PASSWORD"}},
			&cli.Float64Flag{Name: "rate", Usage: "requests/s instead of the plan's"},
			&cli.DurationFlag{Name: "duration", Usage: "measured (steady) phase", Value: 2 * time.Minute},
			&cli.DurationFlag{Name: "ramp-up", Usage: "linear ramp from 0 to the rate before the measured phase", Value: 15 * time.Second},
			&cli.Float64Flag{Name: "p95", Usage: "SLO p95 in ms instead of the plan's"},
			&cli.Float64Flag{Name: "error-rate", Usage: "SLO error share instead of the plan's (0.01 = 1 %)"},
			&cli.BoolFlag{Name: "emit-script", Usage: "print the generated k6 script and exit"},
			&cli.StringFlag{Name: "script", Usage: "run this (edited) k6 script instead of the generated one"},
			&cli.BoolFlag{Name: "find-max", Usage: "raise the rate in steps until the SLO breaks"},
			&cli.Float64Flag{Name: "step-factor", Usage: "find-max: rate multiplier per step", Value: 1.25},
			&cli.Float64Flag{Name: "max-rate", Usage: "find-max: highest rate to try (default 50x the start)"},
			&cli.StringFlag{Name: "chaos", Usage: "faults to inject under load: kill:HOST@TIME[,...] (local target)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml", Value: "table"},
		},
		Action: func(c *cli.Context) error {
			f := verifyFlags{chaos: c.String("chaos"),
				plan: c.String("plan"), stateDir: c.String("state-dir"), stack: c.String("stack"),
				target: c.String("target"), email: c.String("email"), password: c.String("password"),
				rate: c.Float64("rate"), p95: c.Float64("p95"), errorRate: c.Float64("error-rate"),
				duration: c.Duration("duration"), rampUp: c.Duration("ramp-up"),
				emitScript: c.Bool("emit-script"), script: c.String("script"),
				findMax: c.Bool("find-max"), stepFactor: c.Float64("step-factor"), maxRate: c.Float64("max-rate"),
				output: c.String("output"),
			}
			if f.findMax && !c.IsSet("duration") {
				// Every step is a full run: shorter steps find the maximum
				// in minutes rather than half an hour.
				f.duration, f.rampUp = 30*time.Second, min(f.rampUp, 5*time.Second)
			}
			if c.IsSet("rate") && !(f.rate > 0) {
				return crmplan.Errorf(crmplan.EINVALID, "the rate must be above 0, got %g", f.rate).
					In("--rate").Try("crmplan verify --rate 150")
			}
			return runVerify(c.Context, f, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// verifyInput is what the plan (or, without one, the flags) says to test.
type verifyInput struct {
	plan     *topology.Plan
	model    sizing.Model // with defaults filled
	est      *sizing.Estimate
	scenario loadgen.Scenario
}

func runVerify(ctx context.Context, f verifyFlags, stdout, stderr io.Writer) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	in, err := verifyPlan(f)
	if err != nil {
		return err
	}
	if f.chaos != "" {
		// A malformed schedule fails before the stack is even looked at;
		// verifyChaos resolves its hosts once the stack is known.
		if _, err := loadgen.ParseChaos(f.chaos, in.scenario.Duration); err != nil {
			return err
		}
	}
	if f.emitScript {
		script, err := loadgen.Script(in.scenario)
		if err != nil {
			return err
		}
		_, err = stdout.Write(script)
		return err
	}
	o := loadgen.Options{Scenario: in.scenario, K6: verifyK6(), Log: stderr}
	if f.script != "" {
		if o.Script, err = os.ReadFile(f.script); err != nil {
			return crmplan.Errorf(crmplan.EINVALID, "cannot read the script: %w", err).
				In("--script").Try("crmplan verify --emit-script > load.js")
		}
	}
	if err := verifyTarget(f, in, &o); err != nil {
		return err
	}
	if f.chaos != "" {
		if o.Chaos, err = verifyChaos(f, in, o); err != nil {
			return err
		}
	}
	if f.findMax {
		return runFindMax(ctx, o, f, in, stdout)
	}
	res, path, err := loadgen.Verify(ctx, o)
	if res.Requests == 0 && err != nil {
		return err
	}
	var est *sizing.Estimate
	if in.est != nil {
		est = predictAt(in.model, *in.est, res.TargetRate)
	}
	if done, encErr := encode(stdout, res, f.output); done {
		if encErr != nil {
			return encErr
		}
	} else if werr := loadgen.WriteSummary(stdout, res, est); werr != nil {
		return werr
	}
	fmt.Fprintf(stderr, "result: %s\n", path)
	return err
}

// verifyPlan turns the plan and the flags into the scenario k6 runs.
func verifyPlan(f verifyFlags) (verifyInput, error) {
	var in verifyInput
	m := sizing.Model{}
	if f.plan != "" {
		plan, err := readPlan(f.plan)
		if err != nil {
			return in, err
		}
		in.plan = plan
		m = plan.Model()
		est, err := sizing.Size(m)
		if err != nil {
			return in, err
		}
		in.est = &est
	} else if f.rate == 0 {
		return in, crmplan.Errorf(crmplan.EINVALID, "without a plan, the rate must be given").
			In("--rate").Try("crmplan verify --plan plan.yaml   # or: --target URL --rate 150")
	}
	in.model = m.WithDefaults()
	sc := loadgen.Scenario{Rate: f.rate, RampUp: f.rampUp, Duration: f.duration,
		Mix: in.model.Workload.Mix, SLO: in.model.SLO}
	if sc.Rate == 0 && in.est != nil {
		sc.Rate = in.est.Workload.RequestsPerSecond
	}
	if f.p95 > 0 {
		sc.SLO.P95Ms = f.p95
	}
	if f.errorRate > 0 {
		sc.SLO.ErrorRate = f.errorRate
	}
	in.scenario = sc
	return in, sc.Validate()
}

// verifyTarget fills o's target, stack and results dir: from --target, or
// from the inventory that apply wrote for the plan's stack.
func verifyTarget(f verifyFlags, in verifyInput, o *loadgen.Options) error {
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
		o.Target = loadgen.Target{URL: f.target, Email: f.email, Password: f.password}
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
// as the model predicts it.
func inventoryTarget(inv stackdir.Inventory, m sizing.Model) loadgen.Target {
	cores := map[string]int{}
	for _, t := range m.Tiers {
		cores[t.Role] = t.Cores
	}
	t := loadgen.Target{URL: inv.WebURL, Email: inv.LoadUser.Email, Password: inv.LoadUser.Password}
	for _, h := range inv.Hosts {
		host := loadgen.Host{Name: h.Name, Role: h.Role, MetricsURL: h.MetricsURL, Cores: cores[h.Role]}
		if host.MetricsURL == "" {
			host.PID = localPostgresPID(h)
		}
		t.Hosts = append(t.Hosts, host)
	}
	return t
}

// localPostgresPID finds the postmaster of a database host on the local
// target, whose CPU (with its backends') verify reads from /proc, since
// PostgreSQL has no /metrics. 0 when the host is not such a host.
func localPostgresPID(h stackdir.InventoryHost) int {
	if h.Dir == "" || (h.Role != string(topology.RoleDBPrimary) && h.Role != string(topology.RoleDBReplica)) {
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

func orPlaceholder(plan string) string {
	if plan == "" {
		return "PLAN.yaml"
	}
	return plan
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

// predictAt sizes the deployed topology (the estimate's server counts and
// cores, fixed) at rate instead of the design rate, so that the summary
// compares the model and the measurement at the same load. It returns nil
// when the model cannot say (the rate overloads a tier).
func predictAt(m sizing.Model, est sizing.Estimate, rate float64) *sizing.Estimate {
	if !(est.Workload.DesignRate > 0) || !(rate > 0) {
		return nil
	}
	byRole := map[string]sizing.TierEstimate{}
	for _, t := range est.Tiers {
		byRole[t.Role] = t
	}
	m.Tiers = append([]sizing.TierSpec(nil), m.Tiers...)
	for i, t := range m.Tiers {
		if te, ok := byRole[t.Role]; ok {
			m.Tiers[i].Servers, m.Tiers[i].Cores = te.Servers, te.Cores
		}
	}
	// The design rate is proportional to the peak factor.
	m.Workload.PeakFactor *= rate / est.Workload.DesignRate
	at, err := sizing.Size(m)
	if err != nil {
		return nil
	}
	return &at
}

// predictedSaturation is the lowest rate at which a tier of the estimate
// reaches 100 % utilization.
func predictedSaturation(est *sizing.Estimate) float64 {
	if est == nil {
		return 0
	}
	sat := math.Inf(1)
	for _, t := range est.Tiers {
		if t.SaturationRate > 0 {
			sat = math.Min(sat, t.SaturationRate)
		}
	}
	if math.IsInf(sat, 1) {
		return 0
	}
	return sat
}

func runFindMax(ctx context.Context, o loadgen.Options, f verifyFlags, in verifyInput, stdout io.Writer) error {
	fm := loadgen.FindMaxOptions{Factor: f.stepFactor, MaxRate: f.maxRate, PredictedSaturation: predictedSaturation(in.est)}
	res, path, err := loadgen.FindMax(ctx, o, fm)
	if err != nil && len(res.Steps) == 0 {
		return err
	}
	if done, encErr := encode(stdout, res, f.output); done {
		if encErr != nil {
			return encErr
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RATE\tachieved\tp95 ms\terrors\tdropped\t")
		for _, s := range res.Steps {
			verdict := "held"
			if !s.Passed {
				verdict = "broke: " + strings.Join(s.Why, "; ")
			}
			fmt.Fprintf(tw, "%.1f/s\t%.1f/s\t%.1f\t%.2f %%\t%d\t%s\n", s.Rate, s.AchievedRate, s.P95Ms, s.ErrorRate*100, s.Dropped, verdict)
		}
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "measured max\t%.1f req/s\n", res.MaxRate)
		if res.PredictedSaturation > 0 {
			fmt.Fprintf(tw, "predicted saturation\t%.1f req/s (the sizing model's first tier at 100 %%)\n", res.PredictedSaturation)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if path != "" {
		fmt.Fprintf(o.Log, "result: %s\n", path)
	}
	return err
}

// verifyChaos parses --chaos and checks every fault names a host of the
// deployed stack before anything starts; the kills and the ledger check
// are the local target's (provision).
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
		Inject: func(ctx context.Context, flt loadgen.Fault) (string, error) {
			return provision.KillHost(stateDir, o.Stack, flt.Target)
		},
		Missing: func(ctx context.Context, run string, keys []string) ([]string, error) {
			dsn, err := provision.PrimaryURL(ctx, stateDir, o.Stack)
			if err != nil {
				return nil, err
			}
			return loadgen.LedgerMissing(ctx, dsn, run, keys)
		},
	}, nil
}
