package main

import (
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/loadgen"
)

// verifyFlags is everything `crmplan verify` reads from its command line.
type verifyFlags struct {
	plan, stateDir, stack   string
	target, email, password string
	caFile                  string
	rate, p95, errorRate    float64
	duration, rampUp        time.Duration
	emitScript              bool
	script                  string
	findMax                 bool
	stepFactor, maxRate     float64
	output                  string
	chaos                   string
	generators              int
	keepPoints              bool
	idleWindow              time.Duration
	etl                     loadgen.ETLJobs
}

// verifyCLIFlags are verify's flags; the defaults are part of its help.
func verifyCLIFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "plan", Usage: "plan file (rate, mix, SLO, tiers)", EnvVars: []string{"CRMPLAN_PLAN"}},
		&cli.StringFlag{Name: "state-dir", Usage: "where apply keeps stacks (default ~/.crmplan)", EnvVars: []string{"CRMPLAN_STATE_DIR"}},
		&cli.StringFlag{Name: "stack", Usage: "stack name (default: the plan's name)", EnvVars: []string{"CRMPLAN_STACK"}},
		&cli.StringFlag{Name: "target", Usage: "URL of a CRM crmplan did not deploy", EnvVars: []string{"CRMPLAN_TARGET"}},
		&cli.StringFlag{Name: "email", Usage: "load user (default: the inventory's)", EnvVars: []string{"CRMPLAN_EMAIL"}},
		&cli.StringFlag{Name: "ca-file", Usage: "with --target https://...: the PEM CA its certificate chains to (default: the system's roots; " +
			"a deployed stack's comes from its inventory)", EnvVars: []string{"CRMPLAN_CA_FILE"}},
		&cli.StringFlag{Name: "password-file", Usage: "file holding the load user's password (or set CRMPLAN_PASSWORD); " +
			"never an argument, which any local user reads in ps", EnvVars: []string{"CRMPLAN_PASSWORD_FILE"}},
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
		&cli.IntFlag{Name: "generators", Usage: "load generators, each with its share of the rate: the plan's loadgen hosts (default: all of them), or, without any, N k6 processes on this machine (default 1)"},
		&cli.DurationFlag{Name: "idle-window", Usage: "scrape the hosts this long before the load to measure each tier's idle CPU, which calibrate " +
			"keeps out of demand_ms (0 to skip; at least 1s)", Value: 2 * time.Second},
		&cli.DurationFlag{Name: "etl-every", Usage: "when the stack has an ETL tier, submit a migration job (a contacts CSV) to each ETL host this often during the run, " +
			"measured as the background class etl (0 for none)", Value: 2 * time.Second},
		&cli.IntFlag{Name: "etl-rows", Usage: "contacts in each ETL job", Value: 200},
		&cli.DurationFlag{Name: "etl-window", Usage: "run the ETL jobs alone this long, after the idle window and before the load, to measure their CPU per tier, " +
			"which calibrate keeps out of demand_ms and the prediction adds back (0 to skip; at least 1s; longer than --etl-every, so that whole jobs fall inside it)", Value: 5 * time.Second},
		&cli.BoolFlag{Name: "keep-points", Usage: "keep every request's measurement in the run's results directory (points.json; generators.json with --generators)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml", Value: "table"},
	}
}

// parseVerifyFlags reads the flags into verifyFlags and checks what can be
// checked before the plan is read.
func parseVerifyFlags(c *cli.Context) (verifyFlags, error) {
	f := verifyFlags{chaos: c.String("chaos"),
		plan: c.String("plan"), stateDir: c.String("state-dir"), stack: c.String("stack"),
		target: c.String("target"), email: c.String("email"), caFile: c.String("ca-file"), password: os.Getenv("CRMPLAN_PASSWORD"),
		rate: c.Float64("rate"), p95: c.Float64("p95"), errorRate: c.Float64("error-rate"),
		duration: c.Duration("duration"), rampUp: c.Duration("ramp-up"),
		emitScript: c.Bool("emit-script"), script: c.String("script"),
		findMax: c.Bool("find-max"), stepFactor: c.Float64("step-factor"), maxRate: c.Float64("max-rate"),
		output: c.String("output"), generators: c.Int("generators"), keepPoints: c.Bool("keep-points"),
		idleWindow: c.Duration("idle-window"),
		etl:        loadgen.ETLJobs{Every: c.Duration("etl-every"), Rows: c.Int("etl-rows"), Window: c.Duration("etl-window")},
	}
	if f.etl.Every != 0 && f.etl.Every < 100*time.Millisecond {
		return f, crmplan.Errorf(crmplan.EINVALID, "ETL jobs must be at least 100ms apart (or 0 for none), got %s", f.etl.Every).
			In("--etl-every").Try("crmplan verify --etl-every 2s")
	}
	if f.etl.Rows < 1 || f.etl.Rows > 100_000 {
		return f, crmplan.Errorf(crmplan.EINVALID, "an ETL job holds 1 to 100000 contacts, got %d", f.etl.Rows).
			In("--etl-rows").Try("crmplan verify --etl-rows 200")
	}
	if f.etl.Window != 0 && f.etl.Window < time.Second {
		return f, crmplan.Errorf(crmplan.EINVALID, "the ETL window must be 0 or at least 1s (two scrapes a second apart), got %s", f.etl.Window).
			In("--etl-window").Try("crmplan verify --etl-window 4s")
	}
	if f.idleWindow != 0 && f.idleWindow < time.Second {
		return f, crmplan.Errorf(crmplan.EINVALID, "the idle window must be 0 or at least 1s (two scrapes a second apart), got %s", f.idleWindow).
			In("--idle-window").Try("crmplan verify --idle-window 2s")
	}
	if f.findMax && !c.IsSet("duration") {
		// Every step is a full run: shorter steps find the maximum
		// in minutes rather than half an hour.
		f.duration, f.rampUp = 30*time.Second, min(f.rampUp, 5*time.Second)
	}
	if c.IsSet("generators") && f.generators < 1 {
		return f, crmplan.Errorf(crmplan.EINVALID, "the number of load generators must be at least 1, got %d", f.generators).
			In("--generators").Try("crmplan verify --generators 3")
	}
	if file := c.String("password-file"); file != "" {
		pw, err := os.ReadFile(file)
		if err != nil {
			return f, crmplan.Errorf(crmplan.EINVALID, "cannot read the password: %w", err).In("--password-file").
				Try("crmplan verify --target URL --email admin@example.com --password-file ~/.crm-password")
		}
		f.password = strings.TrimRight(string(pw), "\r\n")
	}
	if c.IsSet("rate") && !(f.rate > 0) {
		return f, crmplan.Errorf(crmplan.EINVALID, "the rate must be above 0, got %g", f.rate).
			In("--rate").Try("crmplan verify --rate 150")
	}
	return f, nil
}
