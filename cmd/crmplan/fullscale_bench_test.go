package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/pgserver"
)

// seedLoadedRe reads crm seed's "N rows loaded in D (R rows/s)" line as
// apply shows it under crm-database.
var seedLoadedRe = regexp.MustCompile(`seed: ([0-9,]+) rows loaded in (\S+) \(([0-9,]+) rows/s\)`)

// BenchmarkFullScaleStack deploys seed 000 with its plan's records
// (apply --records full; CRMPLAN_BENCH_RECORDS=2M etc. for fewer), then
// verifies it at the plan's 150 req/s and finds its maximum with p95 under
// 100 ms, each class under 200 ms. It prints the apply's seeding figures as
// they came (rows/s of the COPY, index and total times) for BENCHMARKS.md,
// beside `make bench-seed`'s psql \copy of the same rows. make bench-stack
// runs it; it takes long at 25M, so run it once, on a quiet machine if
// there is one.
func BenchmarkFullScaleStack(b *testing.B) {
	pulumi, err := filepath.Abs("../../bin/pulumi")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(pulumi); err != nil {
		b.Skipf("no Pulumi CLI at %s: run make bin/pulumi", pulumi)
	}
	if _, err := os.Stat(filepath.Join(pgserver.DefaultBin, "postgres")); err != nil {
		b.Skip("no PostgreSQL 15 server binaries (make deps)")
	}
	records := os.Getenv("CRMPLAN_BENCH_RECORDS")
	if records == "" {
		records = "full"
	}
	prefix := ownRange(b)
	bin := buildBinaries(b)
	root, err := os.MkdirTemp("/tmp", "crmplan-fullscale-")
	if err != nil {
		b.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	stateDir := filepath.Join(root, "state")
	common := []string{"--state-dir", stateDir, "--pulumi", pulumi, "--crm", filepath.Join(bin, "crm")}
	crmplanCmd := func(args ...string) *exec.Cmd {
		return exec.Command(filepath.Join(bin, "crmplan"), append(args, common...)...)
	}
	// verify takes the state dir only.
	verifyCmd := func(args ...string) *exec.Cmd {
		return exec.Command(filepath.Join(bin, "crmplan"), append(args, "--state-dir", stateDir)...)
	}
	b.Cleanup(func() {
		if out, err := crmplanCmd("destroy", "--stack", "simplecrm", "--yes").CombinedOutput(); err != nil {
			b.Logf("destroy: %v\n%s", err, out)
		}
		_ = os.RemoveAll(root)
	})
	plan := rewritePlan(b, "../../examples/simplecrm.yaml", "127.10.", prefix)
	// Issue 18's goals at full scale: p95 under 200 ms for every class at
	// the plan's rate, and the maximum with p95 under 100 ms. The classes
	// get 200 ms objectives of their own, which --p95 (the whole's) leaves
	// as they are: find-max holds the whole to 100 ms and each class to
	// 200, as the goals do.
	classes := "classes: {list: {p95_ms: 200}, view: {p95_ms: 200}, write: {p95_ms: 200}, report: {p95_ms: 200}, integration: {p95_ms: 200}, marketing: {p95_ms: 200}}"
	plan = rewritePlan(b, plan, "slo:\n  p95_ms: 500\n", "slo:\n  p95_ms: 500\n  "+classes+"\n")

	for b.Loop() {
		// apply, its output shown as it comes: a 25M seed runs for many
		// minutes and its progress lines are the point.
		log, err := os.Create(filepath.Join(root, "apply.log"))
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		apply := crmplanCmd("apply", "--plan", plan, "--yes", "--records", records)
		pr, pw := io.Pipe()
		apply.Stdout, apply.Stderr = pw, pw
		start := time.Now()
		if err := apply.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				out.WriteString(line + "\n")
				log.WriteString(time.Now().UTC().Format("15:04:05 ") + line + "\n")
			}
		}()
		err = apply.Wait()
		pw.Close()
		<-done
		log.Close()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("apply --records %s: %v\n%s", records, err, out.String())
		}
		b.Logf("apply --records %s: %.1f s\n%s", records, took.Seconds(), filterLines(out.String(), "seed:", "bulk load:", "CrmDatabase"))
		b.ReportMetric(took.Seconds(), "apply-s")
		if m := seedLoadedRe.FindStringSubmatch(out.String()); m != nil {
			rows, _ := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
			rate, _ := strconv.ParseFloat(strings.ReplaceAll(m[3], ",", ""), 64)
			b.ReportMetric(rows, "rows")
			b.ReportMetric(rate, "copy-rows/s")
		} else {
			b.Errorf("no \"rows loaded\" progress line in apply's output")
		}
		if !strings.Contains(out.String(), "bulk load: checkpoint_timeout=30min") || !strings.Contains(out.String(), "settings are back") {
			b.Errorf("apply did not show the bulk-load settings applied and restored")
		}

		var res loadgen.Result
		if err := runJSON(verifyCmd("verify", "--plan", plan, "--duration", "1m", "--ramp-up", "10s", "--output", "json"), &res); err != nil {
			b.Logf("verify at 150 req/s: %v", err)
			if res.Requests == 0 {
				b.Fatal("verify sent no requests")
			}
		}
		b.Logf("verify at %.0f req/s: achieved %.1f, %d requests, %d failed, p95 %.1f ms, SLO passed %v",
			res.TargetRate, res.AchievedRate, res.Requests, res.Failed, res.Latency.P95Ms, res.SLO.Passed)
		for _, c := range classNamesOf(res.ByClass) {
			r := res.ByClass[c]
			b.Logf("  class %-11s p95 %7.1f ms  p99 %7.1f ms  (%d requests; objective %v)", c, r.Latency.P95Ms, r.Latency.P99Ms, r.Requests, res.SLO.Classes[c])
		}
		b.ReportMetric(res.Latency.P95Ms, "p95-ms@150")

		var fm loadgen.FindMaxResult
		if err := runJSON(verifyCmd("verify", "--plan", plan, "--find-max", "--p95", "100", "--duration", "20s", "--ramp-up", "5s",
			"--step-factor", "1.25", "--output", "json"), &fm); err != nil {
			b.Logf("find-max: %v", err)
		}
		for _, s := range fm.Steps {
			b.Logf("find-max %7.1f req/s: achieved %7.1f, p95 %6.1f ms, errors %.2f %%, dropped %d, passed %v %v",
				s.Rate, s.AchievedRate, s.P95Ms, s.ErrorRate*100, s.Dropped, s.Passed, s.Why)
		}
		b.ReportMetric(fm.MaxRate, "max-req/s@p95<100")
	}
}

// runJSON runs cmd and decodes its stdout; an exit 99 (SLO failed) still
// decodes what it printed.
func runJSON(cmd *exec.Cmd, v any) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if jerr := json.Unmarshal(out, v); jerr != nil {
		return &exec.Error{Name: strings.TrimSpace(lastLines(stderr.String(), 5)), Err: jerr}
	}
	if err != nil {
		return &exec.Error{Name: strings.TrimSpace(lastLines(stderr.String(), 3)), Err: err}
	}
	return nil
}

func filterLines(s string, prefixes ...string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.Contains(l, p) {
				keep = append(keep, l)
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func classNamesOf(m map[string]loadgen.ClassResult) []string {
	var out []string
	for _, c := range []string{"list", "view", "write", "report", "integration"} {
		if _, ok := m[c]; ok {
			out = append(out, c)
		}
	}
	return out
}
