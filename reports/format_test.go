package reports

import (
	"math"
	"slices"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"int", fmtInt(25_000_000), "25,000,000"},
		{"small int", fmtInt(999), "999"},
		{"negative int", fmtInt(-1234), "-1,234"},
		{"num", fmtNum(1234.567, 1), "1,234.6"},
		{"num rounds to zero", fmtNum(-0.001, 1), "0.0"},
		{"num NaN", fmtNum(math.NaN(), 1), "n/a"},
		{"short whole", fmtShort(5), "5"},
		{"short decimals", fmtShort(2.50), "2.5"},
		{"pct whole", fmtPct(0.6), "60%"},
		{"pct small", fmtPct(0.017), "1.7%"},
		{"pct large", fmtPct(2.3149), "231%"},
		{"money", fmtMoney(1160.7, "USD"), "$1,161"},
		{"money other", fmtMoney(99, "CHF"), "99 CHF"},
		{"bytes", fmtBytes(8 << 30), "8.0 GiB"},
		{"bytes small", fmtBytes(512), "512 B"},
		{"ms small", fmtMs(4.14), "4.1 ms"},
		{"ms large", fmtMs(163.4), "163 ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		whole  bool
		want   []float64
	}{
		{"percent", 0, 131, false, []float64{0, 50, 100, 150}},
		{"latency", 0, 525, false, []float64{0, 200, 400, 600}},
		{"quarter steps", 0, 10.5, false, []float64{0, 2.5, 5, 7.5, 10, 12.5}},
		{"whole servers", 0, 10.5, true, []float64{0, 5, 10, 15}},
		{"few servers", 0, 2.1, true, []float64{0, 1, 2, 3}},
		{"empty range", 3, 3, false, []float64{3, 3.2, 3.4, 3.6, 3.8, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := niceTicks(tt.lo, tt.hi, 5, tt.whole)
			if !slices.EqualFunc(got, tt.want, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
				t.Errorf("niceTicks(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
			}
		})
	}
}

func TestSweepStep(t *testing.T) {
	tests := []struct {
		users float64
		want  float64
	}{{3000, 1000}, {500, 200}, {10_000, 5000}, {1, 1}, {50_000, 20_000}}
	for _, tt := range tests {
		if got := sweepStep(tt.users); got != tt.want {
			t.Errorf("sweepStep(%v) = %v, want %v", tt.users, got, tt.want)
		}
	}
}
