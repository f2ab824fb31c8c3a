package sizing

import (
	"math"

	"github.com/crmplan/crmplan"
)

// SweepPoint is one what-if scenario of a Sweep.
type SweepPoint struct {
	Value    float64          `json:"value"`
	Workload WorkloadEstimate `json:"workload"`
	Tiers    []TierEstimate   `json:"tiers"`
	EndToEnd Latency          `json:"end_to_end"`
	MeetsSLO bool             `json:"meets_slo"`
}

// Sweep axes.
const (
	AxisNamedUsers  = "named-users"
	AxisConcurrency = "concurrency"
	AxisTPM         = "tpm"
)

// Sweep sizes m once for every value from..to (inclusive) in steps of step
// along axis: "named-users", "concurrency" (a share, 0.6 not 60) or "tpm".
func Sweep(m Model, axis string, from, to, step float64) ([]SweepPoint, error) {
	n := math.Floor((to-from)/step+1e-9) + 1
	var points []SweepPoint
	for i := 0; i < int(n); i++ {
		v := from + float64(i)*step
		mm := m
		switch axis {
		case AxisNamedUsers:
			mm.Workload.NamedUsers = int(math.Round(v))
		case AxisConcurrency:
			mm.Workload.Concurrency = v
		case AxisTPM:
			mm.Workload.TPM = v
		default:
			return nil, crmplan.Errorf(crmplan.EINVALID, "unknown sweep axis %q", axis).In("sweep")
		}
		e, err := Size(mm)
		if err != nil {
			return nil, err
		}
		points = append(points, SweepPoint{Value: v, Workload: e.Workload, Tiers: e.Tiers, EndToEnd: e.EndToEnd, MeetsSLO: e.MeetsSLO})
	}
	return points, nil
}

// YearPoint is one year of a growth projection.
type YearPoint struct {
	Year              int            `json:"year"`
	NamedUsers        int            `json:"named_users"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	Servers           map[string]int `json:"servers"`
}

// Project sizes the model for every year 0..Years at that year's named users.
func Project(m Model) ([]YearPoint, error) {
	var out []YearPoint
	for y := 0; y <= m.Workload.Years; y++ {
		mm := m
		g := math.Pow(1+m.Workload.Growth, float64(y))
		mm.Workload.NamedUsers = int(math.Round(float64(m.Workload.NamedUsers) * g))
		mm.Workload.Growth, mm.Workload.Years = 0, 0
		e, err := Size(mm)
		if err != nil {
			return nil, err
		}
		p := YearPoint{Year: y, NamedUsers: mm.Workload.NamedUsers, RequestsPerSecond: e.Workload.RequestsPerSecond, Servers: map[string]int{}}
		for _, t := range e.Tiers {
			p.Servers[t.Role] += t.Servers
		}
		out = append(out, p)
	}
	return out, nil
}
