package topology

import "github.com/crmplan/crmplan/sizing"

// Laid is a plan with the model's estimate of it and the hosts laid out from
// that estimate: what size prints, apply deploys, export writes, verify
// loads and the report describes.
type Laid struct {
	Plan     *Plan
	Estimate sizing.Estimate
	Topology Topology
}

// Lay sizes p with its model and lays out its hosts from the estimate. It is
// the one way from a plan to hosts, so that every command sees the same
// server counts for the same plan file.
//
// When the model rejects the plan, Lay returns the error and a zero Laid.
// When only the layout fails (a zone's range too small for its hosts), the
// returned Laid keeps the plan and the estimate next to the error: the
// model's figures hold without hosts, and the report and verify still use
// them. Laid.Plan is nil only in the first case.
func Lay(p *Plan) (Laid, error) {
	est, err := sizing.Size(p.Model())
	if err != nil {
		return Laid{}, err
	}
	l := Laid{Plan: p, Estimate: est}
	l.Topology, err = Build(p, est)
	return l, err
}
