package sizing

import (
	"math"

	"github.com/crmplan/crmplan"
)

// SweepPoint is one what-if scenario of a Sweep: the model sized with the
// swept field set to Value. Tiers' Detail is left empty (formatting it would
// dominate the cost of a sweep); Size explains a single point.
type SweepPoint struct {
	Value    float64          `json:"value"`
	Workload WorkloadEstimate `json:"workload"`
	Tiers    []TierEstimate   `json:"tiers"`
	EndToEnd Latency          `json:"end_to_end"`
	MeetsSLO bool             `json:"meets_slo"`
	// Model is the queueing model that answered (Answer.Name).
	Model string `json:"model"`
}

// Sweep axes.
const (
	AxisNamedUsers  = "named-users"
	AxisConcurrency = "concurrency"
	AxisTPM         = "tpm"
)

// maxSweepPoints bounds a sweep's memory: a point with six tiers takes
// ~1 kB, so the largest sweep holds ~200 MB.
const maxSweepPoints = 200_000

// Sweep sizes m once for every value from, from+step, ... up to to
// (inclusive) along axis: "named-users", "concurrency" (a share: 0.6, not
// 60) or "tpm". The model is validated and defaulted once; each point then
// costs only the queueing arithmetic. A value the model rejects (say a
// concurrency above 1) fails the whole sweep with the point's field named.
func Sweep(m Model, axis string, from, to, step float64) ([]SweepPoint, error) {
	if err := checkAxis(axis); err != nil {
		return nil, err
	}
	const hint = "crmplan size --sweep named-users=1000:30000:1000"
	if !finite(from) || !finite(to) || !(step > 0) || !finite(step) || to < from {
		return nil, invalid("sweep", hint, "needs from <= to and a step above 0, got %v:%v:%v", from, to, step)
	}
	count := math.Floor((to-from)/step+1e-9) + 1
	if count > maxSweepPoints {
		return nil, invalid("sweep", hint, "would size %.0f scenarios; at most %d", count, maxSweepPoints)
	}
	p, err := prepare(m)
	if err != nil {
		return nil, err
	}
	points := make([]SweepPoint, int(count))
	n := len(p.tiers)
	all := make([]TierEstimate, len(points)*n) // one allocation for every point's tiers
	for i := range points {
		v := from + float64(i)*step
		w := p.model.Workload
		setAxis(&w, axis, v)
		if err := validateRates(w); err != nil {
			return nil, err
		}
		e := p.size(w, false, all[i*n:(i+1)*n:(i+1)*n])
		points[i] = SweepPoint{Value: v, Workload: e.Workload, Tiers: e.Tiers, EndToEnd: e.EndToEnd, MeetsSLO: e.MeetsSLO, Model: e.Model.Name}
	}
	return points, nil
}

// checkAxis reports an unknown sweep axis.
func checkAxis(axis string) error {
	switch axis {
	case AxisNamedUsers, AxisConcurrency, AxisTPM:
		return nil
	}
	return crmplan.Errorf(crmplan.EINVALID, "unknown sweep axis %q; use %s, %s or %s",
		axis, AxisNamedUsers, AxisConcurrency, AxisTPM).In("sweep").Try("crmplan size --sweep named-users=1000:30000:1000")
}

// setAxis sets the swept field. A plain switch rather than a setter func
// keeps w on the stack: a func value would make it escape on every point.
func setAxis(w *Workload, axis string, v float64) {
	switch axis {
	case AxisNamedUsers:
		w.NamedUsers = int(math.Round(v))
	case AxisConcurrency:
		w.Concurrency = v
	case AxisTPM:
		w.TPM = v
	}
}

// YearPoint is one year of a growth projection.
type YearPoint struct {
	Year              int            `json:"year"`
	NamedUsers        int            `json:"named_users"`
	RequestsPerSecond float64        `json:"requests_per_second"` // N*c*t/60 in that year
	DesignRate        float64        `json:"design_rate"`         // with the peak factor
	Records           int64          `json:"records"`
	Servers           map[string]int `json:"servers"` // per role, summed over tiers of that role
	MeetsSLO          bool           `json:"meets_slo"`
}

// Project sizes the model for each year 0..Years at that year's named users
// and records, (1+Growth)^year times today's, so a report can say in which
// year a tier needs its next server. Each year is sized for its own load
// (peak factor applied), not for the horizon's.
func Project(m Model) ([]YearPoint, error) {
	p, err := prepare(m)
	if err != nil {
		return nil, err
	}
	base := p.model.Workload
	out := make([]YearPoint, 0, base.Years+1)
	for y := 0; y <= base.Years; y++ {
		g := math.Pow(1+base.Growth, float64(y))
		w := base
		w.NamedUsers = int(math.Round(float64(base.NamedUsers) * g))
		w.Records = int64(math.Round(float64(base.Records) * g))
		w.Growth, w.Years = 0, 0
		if err := validateRates(w); err != nil {
			return nil, err
		}
		e := p.size(w, false, make([]TierEstimate, len(p.tiers)))
		yp := YearPoint{Year: y, NamedUsers: w.NamedUsers, RequestsPerSecond: e.Workload.RequestsPerSecond,
			DesignRate: e.Workload.DesignRate, Records: w.Records, Servers: make(map[string]int, len(e.Tiers)), MeetsSLO: e.MeetsSLO}
		for _, t := range e.Tiers {
			yp.Servers[t.Role] += t.Servers
		}
		out = append(out, yp)
	}
	return out, nil
}
