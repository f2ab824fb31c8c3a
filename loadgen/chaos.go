package loadgen

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/crmplan/crmplan"
)

// Fault is one failure a chaos run injects: Action on Target, At after
// the measured (steady) phase began. Only "kill" exists: kill -9 of every
// process of the host, its supervisors included, as if it lost power.
type Fault struct {
	Action string        `json:"action"`
	Target string        `json:"target"` // a host name (api-1) or alias (db-primary, app-1)
	At     time.Duration `json:"at_ns"`
}

func (f Fault) String() string {
	return fmt.Sprintf("%s:%s@%s", f.Action, f.Target, f.At)
}

var targetName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// ParseChaos reads a fault schedule: "kill:app-1@30s,kill:db-primary@60s".
// Faults are returned in time order; within duration, since a fault after
// the end of the run would never happen.
func ParseChaos(spec string, duration time.Duration) ([]Fault, error) {
	bad := func(format string, args ...any) error {
		return crmplan.Errorf(crmplan.EINVALID, format, args...).In("--chaos").
			Try("crmplan verify --chaos kill:api-1@30s,kill:db-primary@60s")
	}
	var out []Fault
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		action, rest, ok := strings.Cut(item, ":")
		if !ok {
			return nil, bad("%q: want ACTION:HOST@TIME", item)
		}
		if action != "kill" {
			return nil, bad("%q: unknown action %q (only kill: kill -9 of the host's processes)", item, action)
		}
		target, at, ok := strings.Cut(rest, "@")
		if !ok || !targetName.MatchString(target) {
			return nil, bad("%q: want kill:HOST@TIME with a host name like api-1", item)
		}
		d, err := time.ParseDuration(at)
		if err != nil || d < 0 {
			return nil, bad("%q: time %q is not a duration like 30s", item, at)
		}
		if duration > 0 && d >= duration {
			return nil, bad("%q: at %s the measured phase (%s) is over", item, d, duration)
		}
		out = append(out, Fault{Action: action, Target: target, At: d})
	}
	if len(out) == 0 {
		return nil, bad("no faults in %q", spec)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

// Injected is a fault as it happened.
type Injected struct {
	Fault Fault
	Host  string    // the host the target named at that moment
	At    time.Time // when the kill was sent (by the host's clock when it says)
	Err   string    // why it could not be injected, if it could not
}

// Availability is what a chaos run measured: the faults, what each cost,
// and a per-second timeline of the whole run.
type Availability struct {
	Faults   []FaultResult `json:"faults"`
	Timeline []Second      `json:"timeline"`
	// FailedByMethod counts failed requests per HTTP method over the run,
	// inside fault windows or not.
	FailedByMethod map[string]int64 `json:"failed_by_method"`
	// FailedInFaults counts the failed requests at or after a fault that
	// was injected (each fault's window runs to the next one), FailedOutside
	// the rest: those the faults do not explain, which the SLO verdict
	// counts all the same.
	FailedInFaults int64        `json:"failed_in_fault_windows"`
	FailedOutside  int64        `json:"failed_outside_fault_windows"`
	Ledger         LedgerResult `json:"ledger"`
}

// FaultResult is one fault's cost.
type FaultResult struct {
	Fault string  `json:"fault"` // as given, e.g. kill:db-primary@60s
	Host  string  `json:"host"`
	AtS   float64 `json:"at_s"` // seconds after the run's first request
	Error string  `json:"error,omitempty"`
	// Failed counts failed requests from the fault until the next one (or
	// the end), per request class, and FailedSeconds the seconds (of the
	// timeline) in which any failed.
	Failed        map[string]int64 `json:"failed_by_class"`
	FailedSeconds []int            `json:"failed_seconds"`
	// RTOS is the time to recover: from the fault to the end of the last
	// second in which requests failed; 0 when none failed. Recovered is
	// false when requests still failed in the run's last second.
	RTOS      float64 `json:"rto_s"`
	Recovered bool    `json:"recovered"`
	// LostWrites is the fault's share of the ledger's lost writes: those
	// acknowledged after the previous fault and no later than this one,
	// the writes this fault could have destroyed (RPO per fault).
	LostWrites int `json:"lost_writes"`
}

// Second is one second of the run.
type Second struct {
	T        int              `json:"t"` // seconds after the run's first request
	Requests int64            `json:"requests"`
	Failed   int64            `json:"failed"`
	ByMethod map[string]int64 `json:"failed_by_method,omitempty"`
}

// LedgerResult is the write ledger's verdict: of the creates the CRM
// acknowledged (2xx), how many the database no longer has (RPO in writes).
type LedgerResult struct {
	Checked bool     `json:"checked"`
	Note    string   `json:"note,omitempty"` // why it was not checked
	Acked   int      `json:"acked"`
	Lost    int      `json:"lost"`
	Sample  []string `json:"lost_sample,omitempty"` // up to 20 missing keys
}

// availability computes the timeline and each fault's cost from the
// requests k6 reported. Pure: the tests feed it synthetic series.
func availability(reqs []sample, injected []Injected) Availability {
	a := Availability{FailedByMethod: map[string]int64{}}
	if len(reqs) == 0 {
		for _, in := range injected {
			a.Faults = append(a.Faults, FaultResult{Fault: in.Fault.String(), Host: in.Host, Error: in.Err, Failed: map[string]int64{}})
		}
		return a
	}
	start := reqs[0].at
	for _, r := range reqs {
		if r.at.Before(start) {
			start = r.at
		}
	}
	sec := func(t time.Time) int { return int(math.Floor(t.Sub(start).Seconds())) }
	last := 0
	for _, r := range reqs {
		last = max(last, sec(r.at))
	}
	a.Timeline = make([]Second, last+1)
	for i := range a.Timeline {
		a.Timeline[i].T = i
	}
	for _, r := range reqs {
		s := &a.Timeline[sec(r.at)]
		s.Requests++
		if r.failed {
			s.Failed++
			if s.ByMethod == nil {
				s.ByMethod = map[string]int64{}
			}
			s.ByMethod[r.method]++
			a.FailedByMethod[r.method]++
		}
	}
	for i, in := range injected {
		fr := FaultResult{Fault: in.Fault.String(), Host: in.Host, Error: in.Err, Failed: map[string]int64{},
			AtS: in.At.Sub(start).Seconds(), Recovered: true}
		if in.Err == "" {
			end := time.Time{} // the next fault, or the end of the run
			if i+1 < len(injected) && injected[i+1].Err == "" {
				end = injected[i+1].At
			}
			seen := map[int]bool{}
			for _, r := range reqs {
				if !r.failed || r.at.Before(in.At) || (!end.IsZero() && !r.at.Before(end)) {
					continue
				}
				fr.Failed[r.class]++
				if s := sec(r.at); !seen[s] {
					seen[s] = true
					fr.FailedSeconds = append(fr.FailedSeconds, s)
				}
			}
			sort.Ints(fr.FailedSeconds)
			if n := len(fr.FailedSeconds); n > 0 {
				endOfLast := float64(fr.FailedSeconds[n-1] + 1)
				fr.RTOS = math.Max(0, endOfLast-fr.AtS)
				// Still failing in the last second the window holds: no recovery seen.
				windowEnd := last
				if !end.IsZero() {
					windowEnd = sec(end)
				}
				fr.Recovered = fr.FailedSeconds[n-1] < windowEnd
			}
		}
		for _, n := range fr.Failed {
			a.FailedInFaults += n
		}
		a.Faults = append(a.Faults, fr)
	}
	for _, s := range a.Timeline {
		a.FailedOutside += s.Failed
	}
	a.FailedOutside -= a.FailedInFaults
	return a
}

// attributeLost gives each injected fault the lost writes acknowledged
// before it and after the fault before it; a write acknowledged after the
// last fault and still lost stays with the run's total only.
func attributeLost(a *Availability, reqs []sample, injected []Injected, missing []string) {
	lost := make(map[string]bool, len(missing))
	for _, k := range missing {
		lost[k] = true
	}
	for _, r := range reqs {
		if r.ledger == "" || r.failed || !lost[r.ledger] {
			continue
		}
		for i, in := range injected {
			if in.Err == "" && i < len(a.Faults) && !r.at.After(in.At) {
				a.Faults[i].LostWrites++
				break
			}
		}
	}
}

// ackedKeys returns the ledger keys of the creates the CRM acknowledged.
func ackedKeys(reqs []sample) []string {
	var keys []string
	for _, r := range reqs {
		if r.ledger != "" && !r.failed {
			keys = append(keys, r.ledger)
		}
	}
	sort.Strings(keys)
	return keys
}

// Chaos is what a chaos run needs from the target: Inject carries out a
// fault (returning the host it hit and when the fault struck, which may
// be a while after the call when it travels through the mesh; zero for
// the time of the call), Missing says which acknowledged ledger keys the
// database lacks after the run. Both belong to the target's platform
// (provision).
type Chaos struct {
	Faults  []Fault
	Inject  func(ctx context.Context, f Fault) (host string, at time.Time, err error)
	Missing func(ctx context.Context, run string, keys []string) ([]string, error)
}

// schedule injects the faults at their times after steadyAt, and returns
// what happened once they all ran or ctx ended.
func (c Chaos) schedule(ctx context.Context, steadyAt time.Time, log func(string, ...any)) <-chan []Injected {
	done := make(chan []Injected, 1)
	go func() {
		var out []Injected
		defer func() { done <- out }()
		for _, f := range c.Faults {
			t := time.NewTimer(time.Until(steadyAt.Add(f.At)))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			in := Injected{Fault: f, At: time.Now()}
			host, at, err := c.Inject(ctx, f)
			in.Host = host
			if !at.IsZero() {
				in.At = at
			}
			if err != nil {
				in.Err = err.Error()
				log("chaos: %s failed: %v", f, err)
			} else {
				log("chaos: %s: killed %s", f, host)
			}
			out = append(out, in)
		}
	}()
	return done
}

// measure reads k6's points again for the timeline and the ledger, and
// asks the target which acknowledged creates it lost.
func (c Chaos) measure(ctx context.Context, pointsPath, run string, injected []Injected) (Availability, error) {
	f, err := os.Open(pointsPath)
	if err != nil {
		return Availability{}, fmt.Errorf("chaos: %w", err)
	}
	defer f.Close()
	pts, err := readPoints(f)
	if err != nil {
		return Availability{}, err
	}
	return c.measureSamples(ctx, pts.requests, run, injected)
}

// measureSamples computes the timeline from the run's requests, sorted by
// time, and asks the target which acknowledged creates it lost.
func (c Chaos) measureSamples(ctx context.Context, reqs []sample, run string, injected []Injected) (Availability, error) {
	a := availability(reqs, injected)
	keys := ackedKeys(reqs)
	a.Ledger = LedgerResult{Acked: len(keys)}
	if c.Missing == nil {
		a.Ledger.Note = "the target offers no way to read its database back"
		return a, nil
	}
	// The stack may still be settling (a promotion, a rebuild): give the
	// check a minute, and count a key as lost only if it is missing then.
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	missing, err := c.Missing(mctx, run, keys)
	if err != nil {
		a.Ledger.Note = "ledger not checked: " + err.Error()
		return a, nil
	}
	a.Ledger.Checked, a.Ledger.Lost = true, len(missing)
	a.Ledger.Sample = missing[:min(len(missing), 20)]
	attributeLost(&a, reqs, injected, missing)
	return a, nil
}
