package topology

import (
	"fmt"
	"strings"
	"testing"
)

// aliasBomb is the attack of issue 19: one tier anchored with a spread of
// 2,000 zone names, then aliased 3,000 times. About 33 KB; before the alias
// budget the decoder walked 6 million names and remembered the line of each
// (16 s, 680 MB).
func aliasBomb() string {
	names := make([]string, 2000)
	for i := range names {
		names[i] = fmt.Sprintf("z%d", i)
	}
	tiers := "  - &t {role: web, zone: dmz, spread: [" + strings.Join(names, ",") + "]}\n" + strings.Repeat("  - *t\n", 3000)
	return strings.Replace(base, "  - role: web\n    zone: dmz\n", tiers, 1)
}

// nestedBomb is the classic billion laughs, in a place the decoder reads
// (a tier's spread list holds the anchors of its own elements).
func nestedBomb() string {
	seq := "[&a0 [x,x,x,x,x,x,x,x,x]"
	for i := 1; i < 10; i++ {
		seq += fmt.Sprintf(", &a%d [%s]", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 9), ","))
	}
	return strings.Replace(base, "    min: 2\n", "    min: 2\n    spread: "+seq+"]\n", 1)
}

func TestDecodePlanBounds(t *testing.T) {
	padded := base + "#" + strings.Repeat("x", MaxPlanBytes-len(base)-2) + "\n"
	tests := []struct {
		name      string
		src       string
		wantField string
		wantMsg   string
	}{
		{"alias bomb of 33 KB", aliasBomb(), "b.yaml:12", "aliases repeat more than 1000 values in all"},
		{"nested aliases", nestedBomb(), "b.yaml:16", "aliases repeat more than 1000 values in all"},
		{"anchor containing itself", strings.Replace(base, "    min: 2\n", "    min: 2\n    spread: &s [lan, *s]\n", 1),
			"b.yaml:16", "aliases repeat more than 1000 values in all"},
		{"one byte over 1 MiB", padded + "\n", "b.yaml", "larger than 1048576 bytes"},
		{"a MiB of zero bytes", strings.Repeat("\x00", ReadLimit), "b.yaml", "larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePlan("b.yaml", []byte(tt.src))
			e := asError(t, err)
			if e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) || e.Hint == "" {
				t.Errorf("got %q: %q (hint %q)\nwant %q: ...%q...", e.Field, e.Message, e.Hint, tt.wantField, tt.wantMsg)
			}
		})
	}
	t.Run("exactly 1 MiB decodes", func(t *testing.T) {
		if len(padded) != MaxPlanBytes {
			t.Fatalf("padded plan is %d bytes", len(padded))
		}
		if _, err := DecodePlan("b.yaml", []byte(padded)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("small aliases decode", func(t *testing.T) {
		src := strings.Replace(base, "zone: lan\n    min: 2", "zone: &l lan\n    min: 2\n    spread: &s [dmz]", 1)
		src = strings.Replace(src, "  - role: db-primary\n    zone: lan", "  - role: integration\n    zone: *l\n    spread: *s\n  - role: db-primary\n    zone: lan", 1)
		p, err := DecodePlan("b.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Tiers[2]; got.Zone != "lan" || len(got.Spread) != 1 || got.Spread[0] != "dmz" {
			t.Errorf("aliased tier read as %+v", got)
		}
	})
}

// TestDecodeAliasBombAllocs bounds what the alias bomb costs, in
// allocations rather than time: refusing it takes about 14,000 (parsing
// its 33 KB); walking the 6 million names took 17.5 million (BENCHMARKS.md).
func TestDecodeAliasBombAllocs(t *testing.T) {
	data := []byte(aliasBomb())
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := DecodePlan("b.yaml", data); err == nil {
			t.Fatal("the alias bomb decoded")
		}
	})
	if allocs > 100_000 {
		t.Errorf("decoding the alias bomb allocates %.0f times, want at most 100,000", allocs)
	}
}

// BenchmarkDecodePlanBounds measures the refusals: the alias bomb and a
// mebibyte of zero bytes (what --plan /dev/zero reads before stopping).
func BenchmarkDecodePlanBounds(b *testing.B) {
	for name, src := range map[string]string{"alias-bomb": aliasBomb(), "dev-zero": strings.Repeat("\x00", ReadLimit)} {
		b.Run(name, func(b *testing.B) {
			data := []byte(src)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodePlan("b.yaml", data); err == nil {
					b.Fatal("decoded")
				}
			}
		})
	}
}

// TestDecodePlanQuotesShort: a megabyte-long bad value (1,000,000 bytes,
// which still fits the 1 MiB bound) gives a message of a line, not of a
// megabyte, wherever it is.
func TestDecodePlanQuotesShort(t *testing.T) {
	long := strings.Repeat("A", 1_000_000)
	tests := []struct{ name, old, new string }{
		{"plan name", "name: demo", "name: " + long},
		{"unknown key", "  tpm: 5", "  tpm: 5\n  ? " + long + "\n  : 1"}, // a plain key is 1024 bytes at most
		{"zone name", "{name: lan,", "{name: " + long + ","},
		{"number", "tpm: 5", "tpm: " + long},
		{"share", "concurrency: 60%", "concurrency: " + long},
		{"count", "records: 25M", "records: " + long},
		{"zone range", "cidr: 127.10.2.0/24", "cidr: " + long},
		{"tier zone", "zone: lan\n    min", "zone: " + long + "\n    min"},
		{"role", "role: api", "role: " + long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("base has no %q", tt.old)
			}
			_, err := DecodePlan("p.yaml", []byte(strings.Replace(base, tt.old, tt.new, 1)))
			e := asError(t, err)
			if n := len(e.Error()) + len(e.Hint); n > 400 || !strings.Contains(e.Error(), "(1000000 bytes)") {
				t.Errorf("error and hint are %d bytes, want a short quote of the value: %.400q", n, e.Error()+" Try: "+e.Hint)
			}
		})
	}
}

// TestNumbersStaySmall: numbers whose exact value is enormous to compute
// are refused rather than computed (issue 19: 300 prices of 1e-999999 in
// an 8.8 KB plan took 10.6 s).
func TestNumbersStaySmall(t *testing.T) {
	for _, s := range []string{"1e-999999", "1e999999", "2.5e401", "0." + strings.Repeat("0", 500) + "1", strings.Repeat("9", 65)} {
		if _, ok := parseNumber(s); ok {
			t.Errorf("parseNumber(%.20q...) accepted", s)
		}
		if _, err := ParseCount(s); err == nil {
			t.Errorf("ParseCount(%.20q...) accepted", s)
		}
		if _, err := ParseShare(s + "%"); err == nil {
			t.Errorf("ParseShare(%.20q...) accepted", s)
		}
	}
	prices := base + "prices:\n  currency: EUR\n  as_of: 2025-01-31\n  monthly:\n" + "    m5.large: 1e-999999\n"
	_, err := DecodePlan("p.yaml", []byte(prices))
	if e := asError(t, err); e.Field != "p.yaml:24: prices.monthly.m5.large" || !strings.Contains(e.Message, `"1e-999999" is not a number`) {
		t.Errorf("got %q: %q", e.Field, e.Message)
	}
	for _, s := range []string{"1e-300", "2.5e7", "0.000001", "123456789.123456789"} {
		if _, ok := parseNumber(s); !ok {
			t.Errorf("parseNumber(%q) refused", s)
		}
	}
}
