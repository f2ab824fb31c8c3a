package topology

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/crmplan/crmplan"
)

// ParseShare reads a share as people write it: "60%", "60 %" or "0.6".
// It checks the syntax only; ranges are the caller's (concurrency must be in
// (0, 1], growth may exceed 100 %). A bare number above 1 is refused because
// "60" is almost certainly a percentage without its sign.
//
// Errors are *crmplan.Error with code EINVALID and no place: set it with In.
func ParseShare(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	if pct {
		t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	}
	r, ok := parseDecimal(t)
	if !ok {
		return 0, crmplan.Errorf(crmplan.EINVALID, "%q is not a share: write a percentage or a fraction", s).
			Try("60%% or 0.6")
	}
	if pct {
		r.Quo(r, big.NewRat(100, 1))
	} else if r.Cmp(big.NewRat(1, 1)) > 0 {
		return 0, crmplan.Errorf(crmplan.EINVALID, "%q is above 1: a share is a fraction or needs a %% sign", s).
			Try("%s%%", t)
	}
	f, _ := r.Float64()
	if math.IsInf(f, 0) {
		return 0, crmplan.Errorf(crmplan.EINVALID, "%q is out of range", s).Try("60%% or 0.6")
	}
	return f, nil
}

// countSuffixes are the multipliers ParseCount knows: decimal ones for
// counts and binary ones for memory sizes. Lower-case m is left out on
// purpose: it reads as "milli" as easily as "million".
var countSuffixes = map[string]int64{
	"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
}

// ParseCount reads a whole count as people write it: "25M", "25000000",
// "25_000_000", "2.5e7", "1.5k", and byte sizes with binary suffixes, "16Gi". The value must come out as a whole number
// that fits in an int64. Negative numbers parse; ranges are the caller's.
//
// Errors are *crmplan.Error with code EINVALID and no place: set it with In.
func ParseCount(s string) (int64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	mult := int64(1)
	for _, k := range []int{2, 1} { // "Mi" before "M"
		if n := len(t); n >= k {
			if m, ok := countSuffixes[t[n-k:]]; ok {
				mult, t = m, strings.TrimSpace(t[:n-k])
				break
			}
		}
	}
	r, ok := parseDecimal(t)
	if !ok {
		return 0, crmplan.Errorf(crmplan.EINVALID, "%q is not a count", s).Try("25M, 25000000 or 2.5e7")
	}
	r.Mul(r, big.NewRat(mult, 1))
	if !r.IsInt() {
		return 0, crmplan.Errorf(crmplan.EINVALID, "%q is not a whole number", s).Try("%s", r.FloatString(0))
	}
	if !r.Num().IsInt64() {
		return 0, crmplan.Errorf(crmplan.EINVALID, "%q is too large", s).Try("a count below 9.2e18")
	}
	return r.Num().Int64(), nil
}

// parseDecimal parses a plain decimal number, with optional exponent, into
// an exact rational. big.Rat alone would also take "1/3" and hex, which no
// one writes in a plan file, so the syntax is checked by ParseFloat first.
// The length and the exponent are bounded: big.Rat makes 10^exponent
// exactly, so "1e-999999" took 35 ms, and 300 such prices in an 8.8 KB plan
// took 10.6 s (issue 19).
func parseDecimal(s string) (*big.Rat, bool) {
	if s == "" || len(s) > maxDecimalLen || strings.ContainsAny(s, "xXpP_/") {
		return nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(s[i+1:]); err != nil || e > maxExponent || e < -maxExponent {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// maxDecimalLen and maxExponent are far beyond any number a plan needs
// (float64 ends near 1e308) and keep parseDecimal's rationals small.
const (
	maxDecimalLen = 64
	maxExponent   = 400
)

// parseNumber reads a plain float that must be finite.
func parseNumber(s string) (float64, bool) {
	r, ok := parseDecimal(strings.TrimSpace(s))
	if !ok {
		return 0, false
	}
	f, _ := r.Float64()
	return f, !math.IsInf(f, 0)
}

// formatShare writes f as the shortest percentage that reads back as
// exactly f, so that EncodePlan and DecodePlan round-trip.
func formatShare(f float64) string {
	// Plain digits read best; exponents only for shares no one types by hand.
	for _, exp := range []bool{false, true} {
		for prec := 1; prec <= 17; prec++ {
			s := strconv.FormatFloat(f*100, 'g', prec, 64)
			if strings.Contains(s, "e") != exp {
				continue
			}
			if back, err := ParseShare(s + "%"); err == nil && back == f {
				return s + "%"
			}
		}
	}
	// f*100 lost precision or overflowed: the fraction itself is exact.
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// formatCount writes n with the largest suffix that keeps it whole: 25M,
// 1500 stays 1500.
func formatCount(n int64) string {
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if n != 0 && n%s.mult == 0 {
			return strconv.FormatInt(n/s.mult, 10) + s.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatBytes writes a byte size with the largest binary suffix that keeps
// it whole: 16Gi, 1536Mi.
func formatBytes(n int64) string {
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n != 0 && n%s.mult == 0 {
			return strconv.FormatInt(n/s.mult, 10) + s.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatNumber writes a float in the shortest form that reads back exactly.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// nearest returns the candidate closest to s by edit distance, if it is
// close enough to be a plausible typo.
func nearest(s string, candidates []string) (string, bool) {
	if len(s) > 64 {
		return "", false // no one typos a 64-byte key; spare the quadratic cost
	}
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, len(s)/3)
	return best, best != "" && bestD <= limit
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// didYouMean is the " (did you mean "x"?)" tail of an error, or "".
func didYouMean(s string, candidates []string) string {
	if c, ok := nearest(s, candidates); ok {
		return " (did you mean " + strconv.Quote(c) + "?)"
	}
	return ""
}
