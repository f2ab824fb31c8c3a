package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "load-test the deployed stack with k6 against the plan's SLO",
		UsageText: "crmplan verify --plan FILE [--rate R] [--duration 2m] [--generators N] [--find-max] [--emit-script | --script FILE] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Drives the plan's request rate (workload requests_per_second) at the deployed stack with
the embedded k6: an open workload (constant arrival rate) with the sizing model's request
mix, a ramp-up, and the plan's SLO (p95, error rate) as thresholds. While k6 runs, every
host's /metrics is scraped for CPU and throughput per tier; on the local target the
machine's busy CPU (/proc/stat) is read too, and what neither the hosts nor k6 used is other
processes' (result: machine), so "predicted here" saturates at the cores they left ("with 0.6
of 2 cores free"); a request, which Linux lets preempt them, waits only behind the stack's own
work and for the end of a scheduler slice when they hold every core. The result goes to
<state-dir>/<stack>/results/<timestamp>.json and latest.json; a missed SLO exits 99.

Examples:
   crmplan verify --plan plan.yaml
   crmplan verify --plan plan.yaml --rate 300 --duration 30s
   crmplan verify --plan plan.yaml --find-max --duration 30s
   crmplan verify --plan plan.yaml --emit-script > load.js   # edit, then:
   crmplan verify --plan plan.yaml --script load.js
   CRMPLAN_PASSWORD=... crmplan verify --target http://127.0.0.1:8080 --email admin@example.com --rate 50
   crmplan verify --target https://crm.example.com --ca-file ca.crt --email qa@example.com --password-file ~/.crm-pw --rate 50
   crmplan verify --plan plan.yaml --duration 90s --chaos kill:app-1@20s,kill:db-primary@50s

--chaos kills hosts of the deployed stack (kill -9 of all their processes, supervisors
included) at those times after the measured phase began: HOST is a host name (api-1), a
role (db-primary: whichever host holds it at that moment) or app-N (api-N). The result
then has an availability section: requests and failures per second, failed requests per
fault by class, the seconds they failed in, time to recover (RTO), and the write ledger:
every create carries a unique key, and after the run the acknowledged ones missing from
the database are counted (RPO, in writes).

--generators N splits the load over N generators, each running its k6 execution segment
of the same script (a third of the rate and VUs each with 3), started together (paused,
then resumed at one instant; the start skew is reported). A plan with a loadgen tier (in
a zone of kind outside) runs them on its loadgen hosts through the mesh, all of them by
default; without one, N k6 processes on this machine share the load. Each generator
sends its latency histogram (HDR), counts and CPU; the SLO is judged on the merged
histograms, and the result lists every generator's rate, dropped iterations and CPU.
A generator that stops mid-run is reported as lost, its share missing (exit 1, not 99).
   crmplan verify --plan plan.yaml --generators 3

A k6 built with xk6 and this module's extension can stand in for the embedded one:
set CRMPLAN_K6 to its path.`),
		Flags: verifyCLIFlags(),
		Action: func(c *cli.Context) error {
			f, err := parseVerifyFlags(c)
			if err != nil {
				return err
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
	// here is the hardware the deployed stack runs on, from its target;
	// nil when unknown (an ad hoc --target URL).
	here *sizing.Here
	// deployed is est with each tier's server count as the inventory has
	// it: a plan calibrated or edited since its apply may size a tier
	// differently, and the prediction here is of the stack that runs.
	deployed *sizing.Estimate
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
	o := loadgen.Options{Scenario: in.scenario, K6: verifyK6(), Log: stderr, KeepPoints: f.keepPoints, IdleWindow: f.idleWindow, ETL: f.etl}
	if f.script != "" {
		if o.Script, err = os.ReadFile(f.script); err != nil {
			return crmplan.Errorf(crmplan.EINVALID, "cannot read the script: %w", err).
				In("--script").Try("crmplan verify --emit-script > load.js")
		}
	}
	if err := verifyTarget(f, &in, &o); err != nil {
		return err
	}
	if err := verifyGenerators(ctx, f, &o); err != nil {
		return err
	}
	o.Predict = verifyPredictor(in, in.here)
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
	// The model at the rate k6 drove, not the design rate, so that
	// predicted and measured sit side by side at the same load.
	var est *sizing.Estimate
	if in.est != nil {
		if at, perr := sizing.PredictAt(in.model, *in.est, res.TargetRate); perr == nil {
			est = &at
		}
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
		plan, err := readPlan(f.plan, "size")
		if err != nil {
			return in, err
		}
		// The estimate apply deployed. Its hosts do not matter here: a plan
		// whose zones cannot hold them still gives a rate, a mix and an SLO.
		laid, err := topology.Lay(plan)
		if laid.Plan == nil {
			return in, err
		}
		in.plan, m, in.est = plan, plan.Model(), &laid.Estimate
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

// verifyPredictor predicts a run at the rate it achieved: on the plan's
// servers (the open model: k6 drives an arrival rate), and, when the
// target tells its hardware, where the stack runs (sizing.PredictHere),
// with the generator's measured CPU per request and the cores the
// machine's other processes left it; both with the run's background
// classes (the ETL jobs) as measured. nil without a plan.
func verifyPredictor(in verifyInput, here *sizing.Here) loadgen.Predictor {
	if in.est == nil {
		return nil
	}
	return func(rate, generatorCPU, otherCPU float64, idleCPU map[string]float64, background []sizing.Background) (*loadgen.Prediction, *loadgen.Prediction) {
		var hp, pp *loadgen.Prediction
		if at, err := sizing.PredictAtWith(in.model, *in.est, rate, background); err == nil {
			pp = loadgen.NewPrediction(at, rate)
		}
		if here != nil {
			h := *here
			if generatorCPU > 0 {
				h.GeneratorMs = generatorCPU / rate * 1000
			}
			if len(idleCPU) > 0 {
				h.IdleCPU = idleCPU
			}
			h.Background = background
			h.OtherCPU = otherCPU
			if at, err := sizing.PredictHere(in.model, in.hereEstimate(), rate, h); err == nil {
				hp = loadgen.NewPrediction(at, rate)
				hp.Cores, hp.CoresFree = h.Cores, h.Free()
			}
		}
		return hp, pp
	}
}

func runFindMax(ctx context.Context, o loadgen.Options, f verifyFlags, in verifyInput, stdout io.Writer) error {
	fm := loadgen.FindMaxOptions{Factor: f.stepFactor, MaxRate: f.maxRate}
	if in.est != nil {
		fm.PredictedSaturation = in.est.SaturationRate()
		if in.here != nil {
			if at, err := sizing.PredictHere(in.model, in.hereEstimate(), in.est.Workload.DesignRate, *in.here); err == nil {
				fm.PredictedSaturationHere = at.SaturationRate()
			}
		}
	}
	res, path, err := loadgen.FindMax(ctx, o, fm)
	if err != nil && len(res.Steps) == 0 {
		return err
	}
	if done, encErr := encode(stdout, res, f.output); done {
		if encErr != nil {
			return encErr
		}
	} else if werr := loadgen.WriteFindMax(stdout, res); werr != nil {
		return werr
	}
	if path != "" {
		fmt.Fprintf(o.Log, "result: %s\n", path)
	}
	return err
}
