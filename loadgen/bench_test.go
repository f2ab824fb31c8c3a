package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/crmplan/crmplan/sizing"
)

// BenchmarkGeneratorCPU measures the CPU the k6 child process uses to hold
// seed 000's 150 req/s (with the JSON output verify reads) for 20 s against
// the fake CRM on loopback. Run with -benchtime=1x:
//
//	go test -run '^$' -bench GeneratorCPU -benchtime=1x ./loadgen
func BenchmarkGeneratorCPU(b *testing.B) {
	f := newFakeCRM(b, time.Millisecond)
	for b.Loop() {
		o := Options{
			Scenario: Scenario{Rate: 150, RampUp: 5 * time.Second, Duration: 20 * time.Second, Mix: sizing.DefaultMix(),
				SLO: sizing.DefaultSLO()},
			Target: fakeTarget(f), K6: testK6(b), ResultsDir: b.TempDir(),
		}
		res, _, err := Verify(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.GeneratorCPU, "cores")
		b.ReportMetric(res.AchievedRate, "req/s")
		b.ReportMetric(float64(res.Dropped), "dropped")
	}
}
