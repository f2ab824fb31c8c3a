package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/topology"
)

// The plan file and the state dir, as every command finds them.

// readPlan reads and decodes the plan file at path; decoding errors name
// the file and line. An unreadable file's hint runs cmd (size, apply) on an
// example plan. It reads at most topology.ReadLimit bytes, so --plan
// /dev/zero or a pipe that never ends is refused as too large rather than
// read until memory runs out.
func readPlan(path, cmd string) (*topology.Plan, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "cannot read plan: %w", err).In("--plan").
			Try("crmplan %s --plan examples/simplecrm.yaml", cmd)
	}
	return topology.DecodePlan(path, data)
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, topology.ReadLimit))
}

// writePlan saves the plan atomically: a crash leaves the old file or the new
// one, never half of either.
func writePlan(path string, plan *topology.Plan) error {
	data, err := topology.EncodePlan(plan)
	if err != nil {
		return err
	}
	return writePlanFile(path, data, "--write", "crmplan size --write ./plan.yaml")
}

// writePlanFile saves data at path atomically; flag and try place and fix
// a directory that cannot be written.
func writePlanFile(path string, data []byte, flag, try string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plan-*.yaml")
	if err != nil {
		return crmplan.Errorf(crmplan.EINVALID, "cannot write plan: %w", err).In(flag).Try("%s", try)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write plan: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	if st, err := os.Stat(path); err == nil {
		// An edited plan keeps its file's permissions.
		if err := os.Chmod(tmp.Name(), st.Mode().Perm()); err != nil {
			return fmt.Errorf("write plan: %w", err)
		}
	}
	return os.Rename(tmp.Name(), path)
}

// orPlaceholder is the plan path for a hint: the user's, or PLAN.yaml.
func orPlaceholder(plan string) string {
	if plan == "" {
		return "PLAN.yaml"
	}
	return plan
}

// stateDirFlag defaults the state dir to ~/.crmplan.
func stateDirFlag(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", crmplan.Errorf(crmplan.EINVALID, "no home directory for the default state dir: %w", err).
			In("--state-dir").Try("crmplan apply --state-dir /var/lib/crmplan ...")
	}
	return filepath.Join(home, ".crmplan"), nil
}
