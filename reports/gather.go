package reports

import (
	"math"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// Gather collects the report's inputs for plan: it sizes the plan, sweeps
// named users, projects growth and lays out the topology, then reads what
// apply and verify left in stateDir for stack. A stack never applied or
// never verified is not an error: those sections say so. A plan the model
// rejects is, because nothing in the report would hold. With a verify
// result, AtTestRate is the model at the result's rate.
func Gather(plan *topology.Plan, stateDir, stack string, now time.Time) (Inputs, error) {
	m := plan.Model()
	// A plan whose hosts do not fit its zones still has the model's figures;
	// only the topology section goes missing.
	laid, layErr := topology.Lay(plan)
	if laid.Plan == nil {
		return Inputs{}, layErr
	}
	est := laid.Estimate
	in := Inputs{Plan: *plan, Estimate: &est, GeneratedAt: now}
	users := float64(plan.Workload.NamedUsers)
	step := sweepStep(users)
	// A failed sweep or projection leaves its section missing; the rest of
	// the report still stands on the estimate.
	if sw, err := sizing.Sweep(m, sizing.AxisNamedUsers, step, 9*step, step); err == nil {
		in.Sweep = sw
	}
	if plan.Workload.Growth > 0 && plan.Workload.Years > 0 {
		if pr, err := sizing.Project(m); err == nil {
			in.Projection = pr
		}
	}
	if layErr == nil {
		in.Topology = &laid.Topology
		in.DiagramSVG = string(topology.DiagramSVG(laid.Topology))
	}
	inv, err := stackdir.LoadInventory(stateDir, stack)
	switch {
	case err == nil:
		in.Inventory = &inv
	case crmplan.ErrorCode(err) != crmplan.ENOTFOUND:
		return Inputs{}, err
	}
	res, err := loadgen.LoadResult(stackdir.Paths{StateDir: stateDir, Stack: stack}.LatestResult())
	switch {
	case err == nil:
		in.Result = &res
		// The same prediction verify printed next to its measurement.
		if at, err := sizing.PredictAt(m, est, res.TargetRate); err == nil {
			in.AtTestRate = &at
		}
	case crmplan.ErrorCode(err) != crmplan.ENOTFOUND:
		return Inputs{}, err
	}
	fm, err := loadgen.LoadFindMax(stackdir.Paths{StateDir: stateDir, Stack: stack}.LatestFindMax())
	switch {
	case err == nil:
		in.FindMax = &fm
	case crmplan.ErrorCode(err) != crmplan.ENOTFOUND:
		return Inputs{}, err
	}
	probe, err := stackdir.LoadProbe(stateDir, stack)
	switch {
	case err == nil:
		in.Probe = &probe
	case crmplan.ErrorCode(err) != crmplan.ENOTFOUND:
		return Inputs{}, err
	}
	return in, nil
}

// sweepStep is a round step of about a third of today's named users, so the
// sweep's nine points run from a third of today to three times today and
// today's count usually falls on a point.
func sweepStep(users float64) float64 {
	raw := math.Max(users/3, 1)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw-1e-9 {
			return math.Max(1, math.Round(m*mag))
		}
	}
	return raw
}
