package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/crmplan/crmplan"
)

// analyze builds the Result from k6's summary, its JSON points and the
// scraped host metrics.
func (o Options) analyze(summaryPath, pointsPath string, sc *scraper) (Result, error) {
	sf, err := os.Open(summaryPath)
	if err != nil {
		return Result{}, crmplan.Errorf(crmplan.EINTERNAL, "k6 wrote no summary: %w", err)
	}
	defer sf.Close()
	sum, err := readSummary(sf)
	if err != nil {
		return Result{}, err
	}
	pf, err := os.Open(pointsPath)
	if err != nil {
		return Result{}, crmplan.Errorf(crmplan.EINTERNAL, "k6 wrote no JSON output: %w", err)
	}
	defer pf.Close()
	pts, err := readPoints(pf)
	if err != nil {
		return Result{}, err
	}
	res := buildResult(sum, pts, o.Scenario, o.seriesStep())
	if first, last, ok := pts.steadyWindow(); ok {
		res.Tiers, res.ScrapeErrors = sc.tiers(first, last)
		res.Background, res.BackgroundError = sc.background(res.Tiers)
		res.Machine = sc.machineCPU(o.Machine.Cores, res.Tiers, first, last)
		// A run cut short (interrupted) is judged over what ran: n evenly
		// spaced requests span n-1 gaps.
		if span := last.Sub(first).Seconds(); res.Requests > 1 && span < 0.9*res.DurationS {
			res.DurationS = span * float64(res.Requests) / float64(res.Requests-1)
			res.AchievedRate = float64(res.Requests) / res.DurationS
		}
	}
	return res, nil
}

// buildResult combines what k6 measured into a Result, and judges the SLO.
// The achieved rate is over the scenario's steady duration: requests that k6
// dropped or that never finished lower it.
func buildResult(sum summary, pts points, sc Scenario, step time.Duration) Result {
	requests, failed, lat := sum.steady()
	res := Result{
		TargetRate: sc.Rate,
		Requests:   requests,
		Failed:     failed,
		Dropped:    sum.dropped(),
		Latency:    lat,
		ByClass:    pts.byClass(),
		Errors:     pts.errorsByKind(),
		SLO:        SLOResult{P95Ms: sc.SLO.P95Ms, ErrorRate: sc.SLO.ErrorRate},
	}
	if requests > 0 {
		res.ErrorRate = float64(failed) / float64(requests)
	}
	dur := sc.Duration.Seconds()
	res.DurationS = dur
	if dur > 0 {
		res.AchievedRate = float64(requests) / dur
	}
	if len(pts.requests) > 0 {
		res.Series, res.SeriesStart = pts.series(pts.requests[0].at, step), pts.requests[0].at
	}
	res.SLO.Classes = classVerdicts(sc, res.ByClass, summaryClassP95(sum, res.ByClass))
	// A class k6 had no threshold for (a user's older copy of the script)
	// is judged here, worded as k6 would.
	res.SLO.Violations = append(sum.violations(), classViolations(res.SLO.Classes, func(c string) bool {
		_, judged := sum.Metrics[classMetric(c)]
		return !judged
	})...)
	res.SLO.Passed = len(res.SLO.Violations) == 0
	return res
}

// SaveResult writes res as <dir>/<name>.json and as <dir>/latest.json, each
// atomically, and returns the first path.
func SaveResult(dir, name string, res Result) (string, error) {
	return saveJSON(dir, name, "latest", res)
}

// saveJSON writes v as <dir>/<name>.json and <dir>/<latest>.json.
func saveJSON(dir, name, latest string, v any) (string, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("save result: %w", err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("save result: %w", err)
	}
	path := filepath.Join(dir, name+".json")
	for _, p := range []string{path, filepath.Join(dir, latest+".json")} {
		if err := writeAtomic(p, data); err != nil {
			return "", fmt.Errorf("save result: %w", err)
		}
	}
	return path, nil
}

// LoadResult reads a Result file. It returns ENOTFOUND when there is none.
func LoadResult(path string) (Result, error) {
	var res Result
	return res, loadJSON(path, &res, "verify result", "crmplan verify --plan PLAN.yaml", "latest.json")
}

// LoadFindMax reads a find-max result (findmax-latest.json); ENOTFOUND
// when there is none.
func LoadFindMax(path string) (FindMaxResult, error) {
	var res FindMaxResult
	return res, loadJSON(path, &res, "find-max result", "crmplan verify --find-max --plan PLAN.yaml", "findmax-latest.json")
}

// loadJSON reads the what at path into v: ENOTFOUND when the file is not
// there (try runs it), EINVALID when it does not decode.
func loadJSON(path string, v any, what, try, latest string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return crmplan.Errorf(crmplan.ENOTFOUND, "no %s at %s", what, path).Try("%s", try)
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", what, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "%s is not a %s: %w", path, what, err).In(path).
			Try("use a file that crmplan verify wrote: <state-dir>/<stack>/results/%s", latest)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".result-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
