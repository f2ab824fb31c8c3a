package reports

import (
	"fmt"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"math"
	"strconv"
	"strings"
)

// The report's numbers are formatted once, here, so HTML and Markdown agree
// to the digit.

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// fmtInt groups thousands: 25000000 -> "25,000,000".
func fmtInt(n int64) string { return message.NewPrinter(language.English).Sprintf("%d", n) }

// fmtNum formats v with dec decimals and grouped thousands.
func fmtNum(v float64, dec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', dec, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	out := fmtInt(n)
	if frac != "" {
		out += "." + frac
	}
	if v < 0 && strings.Trim(s, "0.") != "" {
		out = "-" + out
	}
	return out
}

// fmtShort formats v with up to two decimals and no trailing zeros: 5, 2.5.
func fmtShort(v float64) string {
	s := fmtNum(v, 2)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fmtPct formats a share (0.6) as a percentage ("60%"), with one decimal
// only when it matters.
func fmtPct(share float64) string {
	p := share * 100
	if math.Abs(p-math.Round(p)) < 0.05 || math.Abs(p) >= 10 {
		return fmtNum(math.Round(p), 0) + "%"
	}
	return fmtNum(p, 1) + "%"
}

// fmtMoney formats a monthly amount in currency without cents.
func fmtMoney(v float64, currency string) string {
	switch currency {
	case "USD", "":
		return "$" + fmtNum(v, 0)
	case "EUR":
		return "€" + fmtNum(v, 0)
	default:
		return fmtNum(v, 0) + " " + currency
	}
}

// fmtBytes uses binary units, as PostgreSQL's settings do (its "8GB" is
// 8 GiB), so sizes and settings on the page compare directly.
func fmtBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmtNum(v, 1) + " " + units[i]
}

// fmtMs formats a latency.
func fmtMs(ms float64) string {
	if ms >= 100 {
		return fmtNum(ms, 0) + " ms"
	}
	return fmtNum(ms, 1) + " ms"
}
