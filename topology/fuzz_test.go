package topology

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

// FuzzDecodePlan feeds arbitrary bytes to the plan-file decoder. It must
// never panic; every failure must be an EINVALID *crmplan.Error placed in
// the file with a hint; every plan it accepts must encode and decode back to
// itself, size, and build (or refuse to build with EINVALID) and draw.
func FuzzDecodePlan(f *testing.F) {
	for _, data := range examples(f) {
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte(strings.Replace(base, "60%", "0.6", 1)))
	f.Add([]byte(base + "  - {from: web, to: db-primary}\n"))
	f.Add([]byte(base + "prices: {currency: EUR, as_of: 2025-01-31, monthly: {m5.large: 70}}\n"))
	f.Add([]byte("name: &a x\nworkload: *a\n"))
	f.Add([]byte(nestedBomb()))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePlan("f.yaml", data)
		if err != nil {
			var e *crmplan.Error
			if !errors.As(err, &e) || e.Code != crmplan.EINVALID || e.Hint == "" || !strings.HasPrefix(e.Field, "f.yaml") {
				t.Fatalf("error %#v (%T) is not an EINVALID *crmplan.Error placed in f.yaml with a hint", err, err)
			}
			if strings.Contains(e.Error(), "\n") || strings.Contains(e.Hint, "\n") {
				t.Fatalf("error or hint is not one line: %q, %q", e.Error(), e.Hint)
			}
			if len(e.Error()) > 1000 {
				t.Fatalf("error is %d bytes: bad values are quoted at most %d characters: %.1000q", len(e.Error()), crmplan.MaxQuoted, e.Error())
			}
			return
		}
		out, err := EncodePlan(p)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		back, err := DecodePlan("f.yaml", out)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip changed the plan:\n got %#v\nwant %#v\n%s", back, p, out)
		}
		l, err := Lay(p)
		if l.Plan == nil {
			t.Fatalf("a valid plan does not size: %v", err)
		}
		if err != nil {
			if crmplan.ErrorCode(err) != crmplan.EINVALID {
				t.Fatalf("build: %v", err)
			}
			return
		}
		top := l.Topology
		if err := top.Validate(); err != nil {
			t.Fatalf("built topology does not validate: %v", err)
		}
		_ = DiagramSVG(top)
	})
}

// FuzzParseHuman feeds arbitrary text to the number forms of the plan
// file. A count or share it accepts is written back (formatCount,
// formatShare) to text that reads as the same value; anything it refuses
// is an EINVALID error.
func FuzzParseHuman(f *testing.F) {
	for _, s := range []string{"25M", "2.5e7", "25_000_000", "1.5k", "16Gi", "60%", "0.6", " 60 % ", "1e-999999", "0.000001%", "-3", "9.3e18"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseCount(s); err != nil {
			if crmplan.ErrorCode(err) != crmplan.EINVALID {
				t.Fatalf("ParseCount(%q): %v", s, err)
			}
		} else if back, err := ParseCount(formatCount(n)); err != nil || back != n {
			t.Fatalf("ParseCount(%q) = %d, written %q, read back %d, %v", s, n, formatCount(n), back, err)
		}
		if v, err := ParseShare(s); err != nil {
			if crmplan.ErrorCode(err) != crmplan.EINVALID {
				t.Fatalf("ParseShare(%q): %v", s, err)
			}
		} else if back, err := ParseShare(formatShare(v)); err != nil || back != v {
			t.Fatalf("ParseShare(%q) = %v, written %q, read back %v, %v", s, v, formatShare(v), back, err)
		}
	})
}
