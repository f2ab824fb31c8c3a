package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/sizing"
)

// Target is the deployed CRM a verify run drives.
type Target struct {
	URL      string // the presentation tier, e.g. http://127.10.1.1:8080
	Email    string // the load user
	Password string // a secret: passed to k6 in its environment, never on its command line
	Hosts    []Host // scraped during the run; may be empty
	// Integration is where integration-class calls go, as an ESB client
	// would send them: the integration hosts' base URLs, one picked per
	// call. Empty: through the web tier like every other class.
	Integration []string
	// Marketing is where marketing-class calls go: the marketing hosts'
	// base URLs (seed 000's marketing server in the DMZ, which users
	// reach), one picked per call. Empty: the mix's marketing share goes
	// to the other classes, as no other host serves campaigns.
	Marketing []string
	// ETL is the ETL hosts' base URLs, where Options.ETL's migration jobs
	// go. Empty: no background jobs.
	ETL []string
	// CAFile is the PEM file of the CA an https URL's certificate chains
	// to (a stack's own, from its inventory); empty trusts the system's
	// roots. Nothing skips verification.
	CAFile string
}

// client is an HTTP client that trusts t's CA.
func (t Target) client(timeout time.Duration) (*http.Client, error) {
	c := &http.Client{Timeout: timeout}
	if t.CAFile == "" {
		return c, nil
	}
	pemData, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "cannot read the target's CA: %w", err).In("--ca-file").
			Try("crmplan verify --target %s --ca-file STACK-CA.crt", t.URL)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		return nil, crmplan.Errorf(crmplan.EINVALID, "%s holds no PEM certificate", t.CAFile).In("--ca-file").
			Try("crmplan verify --target %s --ca-file STACK-CA.crt", t.URL)
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	return c, nil
}

// K6 says how to start k6. Command is the argv prefix: the crmplan binary and
// its hidden "k6" subcommand, or any k6 built with this module's extension.
type K6 struct {
	Command []string
	Env     []string // added to the environment of the k6 process
}

// Options are the inputs of one verify run.
type Options struct {
	Stack    string
	Scenario Scenario
	// Script, when set, is run instead of the script generated from
	// Scenario (a user's edited copy). Scenario still gives the SLO, the
	// rate and the duration the results are judged against.
	Script     []byte
	Target     Target
	K6         K6
	ResultsDir string    // <state-dir>/<stack>/results
	Log        io.Writer // progress for the user; nil for none
	// ScrapeInterval is how often every host's /metrics is read (2 s when 0);
	// SeriesStep the width of one time-series point (5 s when 0).
	ScrapeInterval time.Duration
	SeriesStep     time.Duration
	Now            func() time.Time // clock for the run's timestamp; time.Now when nil
	// Chaos, when set, injects faults during the measured phase and adds
	// an Availability section to the Result.
	Chaos *Chaos
	// KeepPoints keeps k6's raw JSON output (points.json, a dozen lines per
	// request) in the run's directory; by default it is deleted once read.
	// With several generators, their reports in generators.json then hold
	// every request they made.
	KeepPoints bool
	// Generators, when set, drive the run together, each with its k6
	// execution segment of the script (verify --generators); when empty,
	// one k6 runs here as a child process.
	Generators []Generator
	// StartLead is how far ahead the generators' shared start is set
	// (defaultStartLead when 0).
	StartLead time.Duration
	// Predict, when set, fills the Result's predictions at the rate the
	// run achieved before it is saved.
	Predict Predictor
	// IdleWindow, when above zero, is how long the hosts are scraped before
	// k6 starts, so that each tier's CPU with no load is measured
	// (TierMeasurement.IdleCPU). It needs at least a second.
	IdleWindow time.Duration
	// ETL, when its Every is above zero and the target has ETL hosts,
	// runs their migration jobs during the run as a background class.
	ETL ETLJobs
	// Machine, when its Busy is set, is the machine the stack's hosts and
	// the generator share (the local target): its busy CPU is read with
	// every scrape, so that the result says what other processes took
	// (Result.Machine) and the prediction here leaves it out.
	Machine Machine
}

// Machine is a machine the stack and the generator share: its cores and a
// reader of the CPU seconds all its processes have used
// (target.MachineBusy).
type Machine struct {
	Cores int
	Busy  func() (float64, error)
}

// predict fills res's predictions when o has a Predictor and the run
// achieved a rate.
func (o Options) predict(res *Result) {
	res.settleMachine()
	if o.Predict != nil && res.AchievedRate > 0 {
		idle, bg, other := res.predictInputs()
		res.Predicted, res.PredictedProduction = o.Predict(res.AchievedRate, res.GeneratorCPU, other, idle, bg)
	}
}

// predictInputs is what the run measured that a prediction of it takes
// besides its rate and generator: the tiers' idle CPU by role, the
// background classes, and the cores the machine's other processes used.
func (res *Result) predictInputs() (idle map[string]float64, bg []sizing.Background, other float64) {
	idle = map[string]float64{}
	for _, t := range res.Tiers {
		if t.IdleCPU > 0 {
			idle[t.Role] = t.IdleCPU
		}
	}
	for _, b := range res.Background {
		bg = append(bg, sizing.Background{Class: b.Class, Rate: b.Rate, CPU: b.CPU})
	}
	if res.Machine != nil {
		other = res.Machine.Other
	}
	return idle, bg, other
}

// Verify checks the target, runs k6 with the scenario while scraping the
// hosts, writes the Result into ResultsDir (<timestamp>.json and latest.json)
// and returns it with the path written.
//
// Bad input (an unreachable target, rejected credentials, a zero rate)
// returns EINVALID before anything starts. A run whose SLO failed returns the
// complete Result, saved, together with an ESLO error.
func Verify(ctx context.Context, o Options) (Result, string, error) {
	script, err := o.script()
	if err != nil {
		return Result{}, "", err
	}
	if err := checkTarget(ctx, o.Target); err != nil {
		return Result{}, "", err
	}
	if err := o.checkGenerators(ctx); err != nil {
		return Result{}, "", err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	started := now().UTC()
	runID := started.Format("20060102T150405Z")
	dir := filepath.Join(o.ResultsDir, runID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, "", fmt.Errorf("verify: %w", err)
	}
	res, err := o.run(ctx, script, dir, runID)
	if err != nil {
		return Result{}, "", err
	}
	res.Stack = o.Stack
	res.StartedAt = started
	o.predict(&res)
	path, err := SaveResult(o.ResultsDir, runID, res)
	if err != nil {
		return res, "", err
	}
	if ctx.Err() != nil {
		return res, path, crmplan.Errorf(crmplan.EINTERNAL, "the run was interrupted; the partial result is saved in %s", path).
			Try("crmplan verify ...   # again, for a complete run")
	}
	if err := lostGenerators(res, path); err != nil {
		return res, path, err
	}
	if !res.SLO.Passed {
		return res, path, crmplan.Errorf(crmplan.ESLO, "the SLO failed at %g req/s: %s",
			res.TargetRate, strings.Join(res.SLO.Violations, "; ")).
			Try("crmplan verify --find-max   # to see how much load the stack does carry")
	}
	return res, path, nil
}

func (o Options) script() ([]byte, error) {
	if err := o.Scenario.Validate(); err != nil {
		return nil, err
	}
	if len(o.K6.Command) == 0 {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "verify: no k6 command")
	}
	if o.Script != nil {
		return o.Script, nil
	}
	return Script(o.servable(o.Scenario))
}

// servable is sc without the classes no host of the target serves: a
// stack without a marketing server (one verify started itself, or a
// plan's tier not deployed) has nobody to take campaigns, so their share
// goes to the other classes rather than failing every one of them.
func (o Options) servable(sc Scenario) Scenario {
	m := sc.Mix[sizing.ClassMarketing]
	if m <= 0 || m >= 1 || len(o.Target.Marketing) > 0 {
		return sc
	}
	mix := make(sizing.Mix, len(sc.Mix))
	for c, w := range sc.Mix {
		if c != sizing.ClassMarketing {
			mix[c] = w / (1 - m)
		}
	}
	sc.Mix = mix
	o.logf("verify: the target has no marketing server; the mix's %.0f %% of marketing calls go to the other classes", m*100)
	return sc
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// checkTarget makes sure the target answers and takes the credentials, so
// that a typo fails in a second with a clear message instead of a k6 run full
// of errors.
func checkTarget(ctx context.Context, t Target) error {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return crmplan.Errorf(crmplan.EINVALID, "target %q is not an http(s) URL", t.URL).
			In("--target").Try("crmplan verify --target http://127.0.0.1:8080")
	}
	if t.Email == "" || t.Password == "" {
		return crmplan.Errorf(crmplan.EINVALID, "no credentials for the load user").
			In("--email").Try("CRMPLAN_EMAIL=admin@example.com CRMPLAN_PASSWORD=... crmplan verify --target %s", t.URL)
	}
	client, err := t.client(5 * time.Second)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(t.URL, "/")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "target %s is unreachable: %w", t.URL, err).
			In("--target").Try("crmplan status   # is the stack running?")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return crmplan.Errorf(crmplan.EINVALID, "target %s: GET /healthz answered %s", t.URL, resp.Status).
			In("--target").Try("crmplan status   # is the stack running?")
	}
	body, _ := json.Marshal(map[string]string{"email": t.Email, "password": t.Password})
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/session", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err = client.Do(req)
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "target %s: sign-in: %w", t.URL, err).In("--target")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return crmplan.Errorf(crmplan.EINVALID, "the CRM refused the load user %s: %s", t.Email, resp.Status).
			In("--email").Try("check CRMPLAN_EMAIL and CRMPLAN_PASSWORD")
	}
	// Sign the probe's session out again; a failure here costs nothing.
	req, _ = http.NewRequestWithContext(ctx, http.MethodDelete, base+"/api/v1/session", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	return nil
}

// run starts k6 and the scraper and turns their output into a Result.
func (o Options) run(ctx context.Context, script []byte, dir, runID string) (Result, error) {
	if len(o.Generators) > 0 {
		return o.runMany(ctx, script, dir, runID)
	}
	scriptPath := filepath.Join(dir, "script.js")
	summaryPath := filepath.Join(dir, "summary.json")
	pointsPath := filepath.Join(dir, "points.json")
	logPath := filepath.Join(dir, "k6.log")
	if err := os.WriteFile(scriptPath, script, 0o600); err != nil {
		return Result{}, fmt.Errorf("verify: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return Result{}, fmt.Errorf("verify: %w", err)
	}
	defer logFile.Close()

	args := append(append([]string(nil), o.K6.Command[1:]...),
		"run", "--quiet", "--no-color",
		"--summary-export", summaryPath,
		"--out", "json="+pointsPath,
		scriptPath)
	cmd := exec.CommandContext(ctx, o.K6.Command[0], args...)
	// On cancellation k6 gets SIGINT, stops the scenarios and still writes
	// its summary, like a user pressing Ctrl-C.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), o.K6.Env...)
	cmd.Env = append(cmd.Env,
		"K6_NO_USAGE_REPORT=true",            // no traffic beyond the target
		"K6_AUTO_EXTENSION_RESOLUTION=false", // the extension is built in; never fetch one
		"CRMPLAN_TARGET="+o.Target.URL,
		"CRMPLAN_EMAIL="+o.Target.Email,
		"CRMPLAN_PASSWORD="+o.Target.Password,
		"CRMPLAN_RUN="+runID,
		"CRMPLAN_INTEGRATION="+strings.Join(o.Target.Integration, ","),
		"CRMPLAN_MARKETING="+strings.Join(o.Target.Marketing, ","),
	)
	if o.Target.CAFile != "" {
		// k6 verifies certificates against Go's system roots, which Go
		// reads from SSL_CERT_FILE when set: the stack's CA alone, for a
		// run that talks to the stack alone.
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+o.Target.CAFile)
	}

	sc, stopScrape := o.startScraper(ctx)

	o.logf("k6: %g req/s for %s after a %s ramp-up against %s; log %s",
		o.Scenario.Rate, o.Scenario.Duration, o.Scenario.RampUp, o.Target.URL, logPath)
	k6Start := time.Now()
	runErr := cmd.Start()
	var injected <-chan []Injected
	stopChaos := func() {}
	if runErr == nil {
		if o.Chaos != nil {
			// k6 signs in and reads ids before its scenarios start: about a
			// second here. The faults' real times are recorded and reported.
			var chaosCtx context.Context
			chaosCtx, stopChaos = context.WithCancel(ctx)
			injected = o.Chaos.schedule(chaosCtx, k6Start.Add(time.Second+o.Scenario.RampUp), o.logf)
		}
		runErr = cmd.Wait()
	}
	k6Wall := time.Since(k6Start)
	stopChaos()
	stopScrape()

	code := 0
	var exitErr *exec.ExitError
	if errors.As(runErr, &exitErr) {
		code = exitErr.ExitCode()
	} else if runErr != nil {
		return Result{}, crmplan.Errorf(crmplan.EUNAVAILABLE, "start k6 (%s): %w", o.K6.Command[0], runErr)
	}
	// 0: thresholds held; 99: k6's ThresholdsHaveFailed. Anything else means
	// the test did not run through (a script error, a failed setup), unless
	// it was interrupted: k6 then still writes its summary of what ran.
	_, statErr := os.Stat(summaryPath)
	interrupted := ctx.Err() != nil && statErr == nil
	if code != 0 && code != 99 && !interrupted {
		return Result{}, crmplan.Errorf(crmplan.EUNAVAILABLE, "k6 exited with code %d: %s", code, agent.K6LogTail(logPath)).
			Try("less %s", logPath)
	}
	res, err := o.analyze(summaryPath, pointsPath, sc)
	if err != nil {
		return Result{}, err
	}
	if injected != nil {
		avail, err := o.Chaos.measure(ctx, pointsPath, runID, <-injected)
		if err != nil {
			return Result{}, err
		}
		res.Availability = &avail
	}
	if ps := cmd.ProcessState; ps != nil && k6Wall > 0 {
		res.GeneratorCPU = (ps.UserTime() + ps.SystemTime()).Seconds() / k6Wall.Seconds()
	}
	// The raw points are large (a dozen lines per request) and fully
	// digested into the Result; the summary, script and log stay.
	if !o.KeepPoints {
		_ = os.Remove(pointsPath)
	}
	return res, nil
}

// startScraper starts reading every host's /metrics; stop ends it and
// returns when it has.
func (o Options) startScraper(ctx context.Context) (sc *scraper, stop func()) {
	interval := o.ScrapeInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	sc = newScraper(o.Target.Hosts, interval)
	sc.busy = o.Machine.Busy
	if o.IdleWindow > 0 && len(o.Target.Hosts) > 0 {
		// Before the run's own scrapes, so the samples stay in time order.
		o.logf("measuring the hosts' idle CPU for %s", o.IdleWindow)
		sc.idleFrom = time.Now()
		sc.scrapeAll(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(o.IdleWindow):
		}
		sc.scrapeAll(ctx)
		sc.idleTo = time.Now()
	}
	stopETL := func() {}
	if o.ETL.Every > 0 && len(o.Target.ETL) > 0 {
		stop, err := o.startETL(ctx)
		if err != nil {
			// The requests still run; the result says the class is missing.
			o.logf("no ETL jobs in this run: %v", err)
			sc.etlErr = err.Error()
		} else {
			stopETL = func() { sc.etl = stop() }
			if o.ETL.Window > 0 && len(o.Target.Hosts) > 0 {
				// Measured alone, so that its CPU is told apart from the
				// requests' on the tiers both use (the primary).
				o.logf("measuring the ETL jobs' CPU alone for %s (a job of %d rows to each of %d ETL hosts every %s)",
					o.ETL.Window, o.ETL.Rows, len(o.Target.ETL), o.ETL.Every)
				sc.bgFrom = time.Now()
				sc.scrapeAll(ctx)
				select {
				case <-ctx.Done():
				case <-time.After(o.ETL.Window):
				}
				sc.scrapeAll(ctx)
				sc.bgTo = time.Now()
			}
		}
	}
	scrapeCtx, cancel := context.WithCancel(ctx)
	scraped := make(chan struct{})
	go func() { sc.run(scrapeCtx); close(scraped) }()
	return sc, func() { cancel(); <-scraped; stopETL() }
}

// seriesStep is the width of one time-series point.
func (o Options) seriesStep() time.Duration {
	if o.SeriesStep <= 0 {
		return 5 * time.Second
	}
	return o.SeriesStep
}
