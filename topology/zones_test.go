package topology

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// manyZones is base with n LAN zones more, 127.11.0.0/24 on, each a /24
// of its own; overlap, when given, makes the last one overlap zone
// "z<overlap>".
func manyZones(n, overlap int) string {
	var b strings.Builder
	for i := range n {
		j := 256 + i
		if i == n-1 && overlap >= 0 {
			j = 256 + overlap
		}
		fmt.Fprintf(&b, "  - {name: z%d, kind: lan, cidr: 127.%d.%d.0/24}\n", i, 10+j/256, j%256)
	}
	return strings.Replace(base, "tiers:\n", b.String()+"tiers:\n", 1)
}

// BenchmarkValidateZones decodes and validates plans of 200 and 20,000
// zones (issue 19: 20,000 took 8.9 s, quadratic in the overlap check).
func BenchmarkValidateZones(b *testing.B) {
	for _, n := range []int{200, 20_000} {
		data := []byte(manyZones(n, -1))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodePlan("z.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestZoneRanges(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		wantField string
		wantMsg   string
	}{
		{"private range without isolate", strings.Replace(base, "127.10.2.0/24", "10.10.2.0/24", 1),
			"p.yaml:9: zones[1].cidr", "10.10.2.0/24 is not a loopback range (127.0.0.0/8)"},
		{"public range", strings.Replace(base, "127.10.2.0/24", "8.8.8.0/24", 1) + "isolate: true\n",
			"p.yaml:9: zones[1].cidr", "8.8.8.0/24 is neither a loopback range"},
		{"wider than /8", strings.Replace(base, "127.10.2.0/24", "0.0.0.0/0", 1),
			"p.yaml:9: zones[1].cidr", "0.0.0.0/0 is neither a loopback range"},
		{"isolated ranges meet", strings.Replace(base, "127.10.2.0/24", "10.10.1.0/25", 1) + "isolate: true\n",
			"p.yaml:9: zones[1].cidr", `isolated, 10.10.1.0/25 is 10.10.1.0/25, which overlaps zone "dmz"'s 10.10.1.0/24`},
		{"the last of 2,000 zones overlaps one", manyZones(2000, 5),
			"p.yaml:2009: zones[2001].cidr", `127.11.5.0/24 overlaps zone "z5"'s 127.11.5.0/24`},
		{"a range holding an earlier one", strings.Replace(base, "127.10.2.0/24", "127.0.0.0/8", 1),
			"p.yaml:9: zones[1].cidr", `127.0.0.0/8 overlaps zone "dmz"'s 127.10.1.0/24`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePlan("p.yaml", []byte(tt.src))
			e := asError(t, err)
			if e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) || e.Hint == "" {
				t.Errorf("got  %q: %q\nwant %q: ...%q...", e.Field, e.Message, tt.wantField, tt.wantMsg)
			}
		})
	}
	src := strings.Replace(base, "127.10.2.0/24", "10.10.2.0/24", 1) + "isolate: true\n"
	if _, err := DecodePlan("p.yaml", []byte(src)); err != nil {
		t.Errorf("a private range with isolate: %v", err)
	}
}

// TestOverlapAgreesWithPairs checks the sorted sweep against comparing
// every pair, on random lists of nested and disjoint ranges.
func TestOverlapAgreesWithPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 13))
	for range 2000 {
		prefixes := make([]netip.Prefix, 1+rng.IntN(12))
		for k := range prefixes {
			a := netip.AddrFrom4([4]byte{127, byte(rng.IntN(4)), byte(rng.IntN(4)), 0})
			prefixes[k] = netip.PrefixFrom(a, 14+rng.IntN(11)).Masked()
		}
		wantI, wantOK := -1, false
		for i := range prefixes {
			for j := range i {
				if prefixes[i].Overlaps(prefixes[j]) {
					wantOK = true
					if wantI < 0 {
						wantI = i
					}
				}
			}
		}
		i, j, ok := overlap(prefixes)
		if ok != wantOK || ok && (j >= i || !prefixes[i].Overlaps(prefixes[j])) {
			t.Fatalf("overlap(%v) = %d, %d, %v; want an overlapping pair: %v", prefixes, i, j, ok, wantOK)
		}
		if ok && i < wantI {
			t.Fatalf("overlap(%v) = %d, %d: zone %d overlaps none before it", prefixes, i, j, i)
		}
	}
}

// BenchmarkValidateSpreadLinks decodes and validates a plan whose etl tier
// is spread over 15,000 zones, with 20 and 6,000 links from it. Each link
// looked the tier's zones up by walking the plan: 20 links took 25 s of
// CPU through crmplan size (BENCHMARKS.md).
func BenchmarkValidateSpreadLinks(b *testing.B) {
	const n = 15_000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("z%d", i)
	}
	spread := strings.Replace(manyZones(n, -1), "    min: 2\n", "    min: 2\n  - role: etl\n    zone: lan\n    spread: ["+strings.Join(names, ",")+"]\n", 1)
	for _, links := range []int{20, 6000} {
		data := []byte(spread + strings.Repeat("  - {from: etl, to: api}\n", links))
		b.Run(fmt.Sprint(links), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodePlan("s.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
