package latency

import (
	"encoding/json"
	"math"
	"testing"
)

// TestMergeKnownDistributions merges the histograms of two generators whose
// response times are known exactly and checks the merged quantiles against
// the values worked out by hand: the q-th response time of all 1500, raised
// to the top of its bucket. Between 2^19 and 2^20 µs a bucket is 512 µs
// wide, between 2^20 and 2^21 µs 1024 µs (3 significant digits).
func TestMergeKnownDistributions(t *testing.T) {
	a, b, all := New(), New(), New()
	for ms := 1; ms <= 1000; ms++ { // uniform: 1, 2, ..., 1000 ms
		a.RecordMs(float64(ms))
		all.RecordMs(float64(ms))
	}
	for range 500 { // a slow generator: every request 2 s
		b.RecordMs(2000)
		all.RecordMs(2000)
	}
	// Through JSON, as the histograms travel from the generators.
	var got Histogram
	got.Merge(roundTrip(t, a))
	got.Merge(roundTrip(t, b))

	tests := []struct {
		name string
		q    float64
		want float64 // ms
	}{
		{"p50 is the 750th: 750 ms, bucket 749.568-750.079", 0.50, 750.079},
		{"p60 is the 900th: 900 ms, bucket 899.584-900.095", 0.60, 900.095},
		{"p66.7 is the 1000th: 1000 ms, bucket 999.936-1000.447", 2.0 / 3, 1000.447},
		{"p66.6 is the 999th: 999 ms, bucket 998.912-999.423", 0.666, 999.423},
		{"p90 is the 1350th: 2000 ms, bucket 1999.872-2000.895", 0.90, 2000.895},
		{"p95 is the 1425th: 2000 ms", 0.95, 2000.895},
		{"p10 is the 150th: 150 ms, bucket 149.888-150.015", 0.10, 150.015},
		{"p0.1 is the 2nd: 2 ms, exact below 2.048 ms", 0.001, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if q := got.QuantileMs(tt.q); q != tt.want {
				t.Errorf("merged QuantileMs(%g) = %v, want %v", tt.q, q, tt.want)
			}
			if q := all.QuantileMs(tt.q); q != tt.want {
				t.Errorf("one histogram of every request: QuantileMs(%g) = %v, want %v", tt.q, q, tt.want)
			}
		})
	}
	if got.Count() != 1500 {
		t.Errorf("Count = %d, want 1500", got.Count())
	}
	if got.MaxMs() != 2000.895 {
		t.Errorf("MaxMs = %v, want 2000.895", got.MaxMs())
	}
	// The true mean is (500.5*1000 + 2000*500)/1500 = 1000.333 ms; HDR
	// averages the buckets' middles, within 0.1 %.
	if m := got.MeanMs(); math.Abs(m-1000.333)/1000.333 > 0.001 {
		t.Errorf("MeanMs = %v, want 1000.333 within 0.1 %%", m)
	}
	// What averaging the generators' p95 would have said: wrong by 44 %.
	if avg := (a.QuantileMs(0.95) + b.QuantileMs(0.95)) / 2; Equivalent(avg, got.QuantileMs(0.95)) {
		t.Errorf("averaged p95 %v equals the merged p95: the test's distributions do not tell them apart", avg)
	}
}

func roundTrip(t *testing.T, h *Histogram) *Histogram {
	t.Helper()
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var out Histogram
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Count() != h.Count() {
		t.Fatalf("JSON round trip: %d values, want %d", out.Count(), h.Count())
	}
	return &out
}

func TestEmptyAndEdges(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.QuantileMs(0.95) != 0 || h.MeanMs() != 0 || h.MaxMs() != 0 {
		t.Errorf("an empty histogram reports non-zero figures")
	}
	h.RecordMs(0)        // counted as 1 µs
	h.RecordMs(3600_000) // an hour: counted at 10 min, not lost
	if h.Count() != 2 {
		t.Fatalf("Count = %d, want 2", h.Count())
	}
	if h.QuantileMs(0.5) != 0.001 {
		t.Errorf("median of 0 and an hour = %v ms, want 0.001", h.QuantileMs(0.5))
	}
	if max := h.MaxMs(); !Equivalent(max, 600_000) {
		t.Errorf("MaxMs = %v, want 600000 within resolution", max)
	}
	var bad Histogram
	if err := json.Unmarshal([]byte(`"bm90IGhkcg=="`), &bad); err == nil {
		t.Errorf("decoding a string that is no HDR histogram succeeded")
	}
}
