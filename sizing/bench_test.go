package sizing

import "testing"

// BenchmarkSweep100k sizes 100,000 what-if scenarios: seed 000's tiers from
// 1,000 to 100,999 named users, one user apart (up to 5,050 req/s, app pools
// of ~170 cores). One op is the whole sweep.
func BenchmarkSweep100k(b *testing.B) {
	m := seed000()
	for b.Loop() {
		points, err := Sweep(m, AxisNamedUsers, 1000, 100_999, 1)
		if err != nil {
			b.Fatal(err)
		}
		if len(points) != 100_000 {
			b.Fatalf("%d points", len(points))
		}
	}
}

// BenchmarkSize is one full Size of seed 000, with details and database.
func BenchmarkSize(b *testing.B) {
	m := seed000()
	for b.Loop() {
		if _, err := Size(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweep100kShaped is BenchmarkSweep100k with Erlang-16 service
// times (service_scv 0.0625, the most stages calibrate fits): what the
// shape costs a sweep, a power of each hop's transform.
func BenchmarkSweep100kShaped(b *testing.B) {
	m := seed000()
	m.Workload.ServiceSCV = 0.0625
	for b.Loop() {
		if _, err := Sweep(m, AxisNamedUsers, 1000, 100_999, 1); err != nil {
			b.Fatal(err)
		}
	}
}
