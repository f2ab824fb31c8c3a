package sizing

import (
	"math"

	"github.com/crmplan/crmplan"
)

// Size validates m and sizes every tier at the design rate.
func Size(m Model) (Estimate, error) {
	m = m.WithDefaults()
	w := m.Workload
	if w.NamedUsers <= 0 {
		return Estimate{}, crmplan.Errorf(crmplan.EINVALID, "must be above 0, got %d", w.NamedUsers).
			In("workload.named_users").Try("crmplan size --named-users 3000")
	}
	if !(w.Concurrency > 0 && w.Concurrency <= 1) {
		return Estimate{}, crmplan.Errorf(crmplan.EINVALID, "must be in (0, 1], got %v", w.Concurrency).
			In("workload.concurrency").Try("crmplan size --concurrency 60%%")
	}
	if !(w.TPM > 0) || math.IsInf(w.TPM, 0) {
		return Estimate{}, crmplan.Errorf(crmplan.EINVALID, "must be above 0, got %v", w.TPM).
			In("workload.tpm").Try("crmplan size --tpm 5")
	}
	rps := float64(w.NamedUsers) * w.Concurrency * w.TPM / 60
	design := rps * w.PeakFactor * math.Pow(1+w.Growth, float64(w.Years))
	e := Estimate{Workload: WorkloadEstimate{NamedUsers: w.NamedUsers, ConcurrentUsers: float64(w.NamedUsers) * w.Concurrency,
		RequestsPerSecond: rps, DesignRate: design, Records: w.Records}, MeetsSLO: true}
	for _, t := range m.Tiers {
		var d float64
		for c, s := range w.Mix {
			d += s * t.Demand[c]
		}
		lambda := design * t.Visit
		n := int(math.Ceil(lambda * d / 1000 / (float64(t.Cores) * t.TargetUtilization)))
		n = max(n, 1, t.Min)
		if t.HA {
			n++
		}
		e.Tiers = append(e.Tiers, TierEstimate{Role: t.Role, Servers: n, Cores: t.Cores, ArrivalRate: lambda,
			ServiceDemandMs: d, Utilization: lambda * d / 1000 / float64(n*t.Cores), Reason: ReasonUtilization})
	}
	return e, nil
}
