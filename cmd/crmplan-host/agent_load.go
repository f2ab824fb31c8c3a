package main

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// agentLoadCommand is one load generator's share of crmplan verify on a
// loadgen host: the k6 embedded in crmplan (hostK6) runs the segment, and
// the report (histograms, counts, CPU) is the unit's output.
func agentLoadCommand(hostDir cli.Flag, host func(*cli.Context) agent.Host) *cli.Command {
	return &cli.Command{
		Name:   "load",
		Usage:  "run the k6 execution segment of stdin's load spec (JSON: script, segment, sequence, start_at, env) and report what it measured as JSON",
		Flags:  []cli.Flag{hostDir},
		Before: requireFlags("host-dir"),
		Action: func(c *cli.Context) error {
			var spec wire.LoadSpec
			if err := json.NewDecoder(c.App.Reader).Decode(&spec); err != nil {
				return crmplan.Errorf(crmplan.EINVALID, "load spec on stdin: %w", err).In("payload")
			}
			k6, err := hostK6()
			if err != nil {
				return err
			}
			rep, err := host(c).Load(c.Context, k6, spec)
			if err != nil {
				return err
			}
			return json.NewEncoder(c.App.Writer).Encode(rep)
		},
	}
}

// hostK6 is the k6 a loadgen host runs: $CRMPLAN_K6, else the one embedded
// in the crmplan binary installed next to this one (crmplan k6, with the
// k6/x/crmplan module), which only loadgen hosts need.
func hostK6() ([]string, error) {
	if k6 := os.Getenv("CRMPLAN_K6"); k6 != "" {
		return []string{k6}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(filepath.Dir(self), "crmplan")
	if _, err := os.Stat(path); err != nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "no k6 on this host: a loadgen host runs the k6 embedded in crmplan, and %s is missing", path).
			Try("install crmplan next to %s, or set CRMPLAN_K6 to a k6 built with the k6/x/crmplan module", self)
	}
	return []string{path, "k6"}, nil
}
