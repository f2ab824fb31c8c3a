package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/latency"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// Load runs this host's share of a verify run (a crmplan-load unit): k6,
// started by the argv prefix k6 ("crmplan k6" or an xk6 build), runs the
// spec's execution segment of the script. k6 starts paused, so that
// compiling the script and making VUs, which take a second or more, happen
// before the shared start; at spec.StartAt it is resumed through its REST
// API on loopback. The report holds histograms and counts built from k6's
// JSON output on this host; the output itself is deleted.
//
// k6's exit code 99 (its own share crossed a threshold) is no error here:
// the run is judged on every generator's data merged. When ctx ends
// first, k6 is interrupted and the partial report comes with an error.
func (h Host) Load(ctx context.Context, k6 []string, spec wire.LoadSpec) (wire.LoadReport, error) {
	var rep wire.LoadReport
	if len(k6) == 0 || spec.Script == "" {
		return rep, crmplan.Errorf(crmplan.EINVALID, "a load spec needs k6 and a script").In("payload")
	}
	base := filepath.Join(h.Dir, "load")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return rep, fmt.Errorf("load: %w", err)
	}
	dir, err := os.MkdirTemp(base, "run-*")
	if err != nil {
		return rep, fmt.Errorf("load: %w", err)
	}
	scriptPath, pointsPath, logPath := filepath.Join(dir, "script.js"), filepath.Join(dir, "points.json"), filepath.Join(dir, "k6.log")
	if err := os.WriteFile(scriptPath, []byte(spec.Script), 0o600); err != nil {
		return rep, fmt.Errorf("load: %w", err)
	}
	if spec, err = withCA(spec, dir); err != nil {
		return rep, fmt.Errorf("load: %w", err)
	}
	defer os.Remove(pointsPath) // large; digested into the report
	logFile, err := os.Create(logPath)
	if err != nil {
		return rep, fmt.Errorf("load: %w", err)
	}
	defer logFile.Close()
	addr, err := freeLoopbackAddr()
	if err != nil {
		return rep, fmt.Errorf("load: k6's API address: %w", err)
	}
	cmd := k6Run(ctx, k6, spec, scriptPath, pointsPath, addr, logFile)
	if err := cmd.Start(); err != nil {
		return rep, crmplan.Errorf(crmplan.EUNAVAILABLE, "start k6 (%s): %w", k6[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	rep.Started, err = resumeAt(ctx, addr, spec.StartAt, exited)
	if err != nil {
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
		return rep, crmplan.Errorf(crmplan.EUNAVAILABLE, "k6 did not start: %w: %s", err, K6LogTail(logPath))
	}
	waitErr := <-exited
	rep.Ended = time.Now()
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		rep.ExitCode = exitErr.ExitCode()
	} else if waitErr != nil {
		return rep, fmt.Errorf("k6: %w", waitErr)
	}
	// Per second of the run, not of the wait for the start: k6 idles
	// while paused, and a long lead must not make it look cheaper.
	if ps := cmd.ProcessState; ps != nil {
		if wall := rep.Ended.Sub(rep.Started).Seconds(); wall > 0 {
			rep.CPU = (ps.UserTime() + ps.SystemTime()).Seconds() / wall
		}
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ctx.Err() == nil {
		return rep, crmplan.Errorf(crmplan.EUNAVAILABLE, "k6 was killed by signal %q mid-run", ws.Signal().String()).
			Try("less %s   # on this host; dmesg, for an out-of-memory kill", logPath)
	}
	if rep.ExitCode != 0 && rep.ExitCode != 99 && ctx.Err() == nil {
		return rep, crmplan.Errorf(crmplan.EUNAVAILABLE, "k6 exited with code %d: %s", rep.ExitCode, K6LogTail(logPath)).
			Try("less %s   # on this host", logPath)
	}
	pf, err := os.Open(pointsPath)
	if err != nil {
		return rep, crmplan.Errorf(crmplan.EINTERNAL, "k6 wrote no JSON output: %w", err)
	}
	defer pf.Close()
	if err := digest(pf, spec, &rep); err != nil {
		return rep, err
	}
	if ctx.Err() != nil {
		// What ran is in the report, but the share is not whole.
		return rep, fmt.Errorf("k6 stopped before the end of the run: %w", context.Cause(ctx))
	}
	return rep, nil
}

// withCA writes the spec's CA into dir and points k6 at it: k6 verifies
// certificates against Go's system roots, which Go reads from
// SSL_CERT_FILE when set, so the run trusts the stack's CA alone.
func withCA(spec wire.LoadSpec, dir string) (wire.LoadSpec, error) {
	if spec.CA == "" {
		return spec, nil
	}
	caPath := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caPath, []byte(spec.CA), 0o600); err != nil {
		return spec, err
	}
	spec.Env = maps.Clone(spec.Env)
	if spec.Env == nil {
		spec.Env = map[string]string{}
	}
	spec.Env["SSL_CERT_FILE"] = caPath
	return spec, nil
}

// k6Run is the k6 command of a share: paused, its REST API on addr, its
// JSON output to pointsPath, with the spec's segment and environment.
func k6Run(ctx context.Context, k6 []string, spec wire.LoadSpec, scriptPath, pointsPath, addr string, log io.Writer) *exec.Cmd {
	args := append(append([]string(nil), k6[1:]...), "run", "--quiet", "--no-color", "--paused",
		"--address", addr, "--out", "json="+pointsPath)
	if spec.Segment != "" {
		args = append(args, "--execution-segment", spec.Segment, "--execution-segment-sequence", spec.Sequence)
	}
	cmd := exec.CommandContext(ctx, k6[0], append(args, scriptPath)...)
	// Cancelled (the controller gave up on the unit): k6 stops its
	// scenarios on SIGINT and still writes what ran.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true", "K6_AUTO_EXTENSION_RESOLUTION=false")
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// freeLoopbackAddr picks a port for k6's REST API. k6 binds it itself a
// moment later; on a host whose ports are that busy, the start fails and
// says so.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// resumeAt waits until k6's API answers (the script compiled, the VUs
// made), then until at, and resumes the paused test. It returns when k6
// acknowledged the resume: this generator's start.
func resumeAt(ctx context.Context, addr string, at time.Time, exited <-chan error) (time.Time, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	status := "http://" + addr + "/v1/status"
	ready := time.NewTimer(2 * time.Minute)
	defer ready.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, status, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			return time.Time{}, fmt.Errorf("k6 ended before the start (%v)", err)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-ready.C:
			return time.Time{}, fmt.Errorf("k6's API on %s did not answer within 2m", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	body := `{"data":{"type":"status","id":"default","attributes":{"paused":false}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, status, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("resume: %w", err)
	}
	defer resp.Body.Close()
	started := time.Now()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return time.Time{}, fmt.Errorf("resume: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return started, nil
}

// K6Point is one line of k6's JSON output (--out json=FILE), the fields
// a report needs.
type K6Point struct {
	Type   string `json:"type"`
	Metric string `json:"metric"`
	Data   struct {
		Time     time.Time         `json:"time"`
		Value    float64           `json:"value"`
		Tags     map[string]string `json:"tags"`
		Metadata map[string]string `json:"metadata"`
	} `json:"data"`
}

// digest reads k6's JSON output into rep: the steady phase's requests by
// class and error kind, every request per second since rep.Started, and
// the dropped iterations. A script without the steady scenario (a user's
// own) has every request judged, as verify does with one generator.
func digest(r io.Reader, spec wire.LoadSpec, rep *wire.LoadReport) error {
	steady := spec.Steady
	var judged, all phase
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		// Most lines are the dozen other metrics k6 writes per request.
		if !bytes.Contains(b, []byte(`"http_req_duration"`)) && !bytes.Contains(b, []byte(`"dropped_iterations"`)) {
			continue
		}
		var p K6Point
		if err := json.Unmarshal(b, &p); err != nil {
			return fmt.Errorf("k6 JSON output line %d: %w", line, err)
		}
		if p.Type != "Point" {
			continue
		}
		switch p.Metric {
		case "dropped_iterations":
			rep.Dropped += int64(p.Data.Value)
		case "http_req_duration":
			all.add(p)
			if steady != "" && p.Data.Tags["scenario"] == steady {
				judged.add(p)
			}
			addSecond(rep, p)
			if spec.Samples {
				rep.Samples = append(rep.Samples, loadSample(p))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("k6 JSON output: %w", err)
	}
	if judged.requests == 0 {
		judged = all
	}
	rep.Requests, rep.Failed, rep.Latency, rep.ByClass, rep.Errors = judged.requests, judged.failed, judged.latency, judged.byClass, judged.errors
	rep.First, rep.Last = judged.first, judged.last
	if rep.Latency == nil {
		rep.Latency = latency.New()
	}
	return nil
}

// phase accumulates the requests of one phase of a run.
type phase struct {
	requests, failed int64
	latency          *latency.Histogram
	byClass          map[string]*wire.ClassLoad
	errors           map[string]int64
	first, last      time.Time
}

func (ph *phase) add(p K6Point) {
	if ph.latency == nil {
		ph.latency, ph.byClass, ph.errors = latency.New(), map[string]*wire.ClassLoad{}, map[string]int64{}
	}
	t := p.Data.Tags
	failed := t["expected_response"] == "false"
	ph.requests++
	ph.latency.RecordMs(p.Data.Value)
	c := ph.byClass[t["class"]]
	if c == nil {
		c = &wire.ClassLoad{Latency: latency.New()}
		ph.byClass[t["class"]] = c
	}
	c.Requests++
	c.Latency.RecordMs(p.Data.Value)
	if failed {
		ph.failed++
		c.Failed++
		ph.errors[wire.ErrorKind(t["status"], t["error_code"])]++
	}
	if ph.first.IsZero() || p.Data.Time.Before(ph.first) {
		ph.first = p.Data.Time
	}
	if p.Data.Time.After(ph.last) {
		ph.last = p.Data.Time
	}
}

func loadSample(p K6Point) wire.LoadSample {
	t := p.Data.Tags
	s := wire.LoadSample{AtUs: p.Data.Time.UnixMicro(), Ms: p.Data.Value, Class: t["class"], Method: t["method"],
		Scenario: t["scenario"], Failed: t["expected_response"] == "false", Ledger: p.Data.Metadata["ledger"]}
	if s.Failed {
		s.Kind = wire.ErrorKind(t["status"], t["error_code"])
	}
	return s
}

// addSecond counts p in its second since the generator's start.
func addSecond(rep *wire.LoadReport, p K6Point) {
	i := max(int(p.Data.Time.Sub(rep.Started)/time.Second), 0)
	for len(rep.Seconds) <= i {
		rep.Seconds = append(rep.Seconds, wire.LoadSecond{Latency: latency.New()})
	}
	s := &rep.Seconds[i]
	s.Requests++
	s.Latency.RecordMs(p.Data.Value)
	if p.Data.Tags["expected_response"] == "false" {
		s.Failed++
	}
}

// K6LogTail returns the last lines of k6's log that say what went wrong,
// for an error message.
func K6LogTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var keep []string
	for _, l := range lines {
		if strings.Contains(l, "level=error") || strings.Contains(l, "Error") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	if len(keep) == 0 {
		keep = lines
	}
	return strings.Join(keep[max(len(keep)-3, 0):], " | ")
}
