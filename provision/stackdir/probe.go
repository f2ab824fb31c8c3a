package stackdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"

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
	path := Paths{StateDir: stateDir, Stack: r.Stack}.ProbeResult()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save probe result: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("save probe result: %w", err)
	}
	if err := renameio.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save probe result: %w", err)
	}
	return nil
}

// LoadProbe reads the last probe of stack. It returns ENOTFOUND when the
// stack was never probed.
func LoadProbe(stateDir, stack string) (ProbeResult, error) {
	path := Paths{StateDir: stateDir, Stack: stack}.ProbeResult()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ProbeResult{}, crmplan.Errorf(crmplan.ENOTFOUND, "stack %q was never probed (no %s)", stack, path).
			Try("crmplan probe --plan PLAN.yaml")
	}
	if err != nil {
		return ProbeResult{}, fmt.Errorf("read probe result: %w", err)
	}
	var r ProbeResult
	if err := json.Unmarshal(data, &r); err != nil {
		return ProbeResult{}, crmplan.Errorf(crmplan.EINTERNAL, "probe result %s is damaged: %w", path, err).
			Try("crmplan probe --plan PLAN.yaml")
	}
	return r, nil
}
