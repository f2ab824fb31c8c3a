package stackdir

import (
	"time"

	"github.com/crmplan/crmplan"
)

// ProbeCell is one ordered pair of hosts and a port: whether the
// topology's links allow it, and what a TCP connect from inside the source
// host met.
type ProbeCell struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Port     int    `json:"port"`
	Planned  bool   `json:"planned"`  // a link allows From's role to reach To's role on Port
	Measured string `json:"measured"` // open, refused (reached, nothing listens), denied, or "error: why"
	Reached  bool   `json:"reached"`  // the network let the connection through
	Match    bool   `json:"match"`
}

// ProbeResult is crmplan probe's matrix, which it keeps in the stack's
// ProbeResult file for the report.
type ProbeResult struct {
	Stack       string      `json:"stack"`
	Target      string      `json:"target"` // "netns" for an isolated stack
	MeasuredAt  time.Time   `json:"measured_at"`
	Ports       []int       `json:"ports"`
	Cells       []ProbeCell `json:"cells"`
	Differences int         `json:"differences"`
}

// Isolated says whether the probed stack enforces its links (apply --isolate).
func (r ProbeResult) Isolated() bool { return r.Target == "netns" }

// SaveProbe writes r atomically to the stack's ProbeResult file.
func SaveProbe(stateDir string, r ProbeResult) error {
	return saveJSON(Paths{StateDir: stateDir, Stack: r.Stack}.ProbeResult(), "probe result", r)
}

// LoadProbe reads the last probe of stack. It returns ENOTFOUND when the
// stack was never probed.
func LoadProbe(stateDir, stack string) (ProbeResult, error) {
	path := Paths{StateDir: stateDir, Stack: stack}.ProbeResult()
	var r ProbeResult
	err := loadJSON(path, "probe result", &r, crmplan.Errorf(crmplan.ENOTFOUND, "stack %q was never probed (no %s)", stack, path).
		Try("crmplan probe --plan PLAN.yaml"))
	if err != nil {
		return ProbeResult{}, err
	}
	return r, nil
}
