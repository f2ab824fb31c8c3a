package sizing

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzSize feeds Size arbitrary numbers: it must either refuse them with an
// error or return an estimate that encodes as JSON (no NaN or Inf leaks out)
// and keeps the sized tiers within their targets.
func FuzzSize(f *testing.F) {
	f.Add(3000, 0.6, 5.0, int64(25_000_000), 1.0, 0.0, 0, 500.0, 4, 0.6, 0, false)
	f.Add(1, 1.0, 0.1, int64(0), 3.0, 0.5, 10, 50.0, 1, 0.9, 1, true)
	f.Add(50_000, 0.05, 30.0, int64(1e9), 1.2, -0.5, 2, 1e6, 64, 0.1, 3, true)
	f.Add(0, math.NaN(), -1.0, int64(-1), 0.0, -2.0, -1, -1.0, 0, 1.5, -1, false)
	f.Fuzz(func(t *testing.T, users int, conc, tpm float64, records int64, peak, growth float64, years int,
		p95 float64, cores int, target float64, servers int, ha bool) {
		m := Model{
			Workload: Workload{NamedUsers: users % 2_000_000, Concurrency: conc, TPM: tpm, Records: records,
				PeakFactor: peak, Growth: growth, Years: years},
			SLO: SLO{P95Ms: p95},
			Tiers: []TierSpec{
				{Role: "web"},
				{Role: "api", Cores: cores % 256, TargetUtilization: target, Servers: servers % 1000, HA: ha},
				{Role: "db-primary"}, {Role: "integration"},
			},
		}
		e, err := Size(m)
		if err != nil {
			return
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("estimate does not encode: %v\n%+v", err, e)
		}
		for i, te := range e.Tiers {
			spec := m.WithDefaults().Tiers[i]
			if spec.Servers == 0 && te.Reason != ReasonMax && te.Utilization > spec.TargetUtilization*(1+1e-12) {
				t.Fatalf("%s at %v utilization, target %v", te.Role, te.Utilization, spec.TargetUtilization)
			}
		}
	})
}
