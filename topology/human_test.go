package topology

import (
	"math"
	"testing"
)

func TestParseShare(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"60%", 0.6, false},
		{" 60 % ", 0.6, false},
		{"0.6", 0.6, false},
		{"1", 1, false},
		{"100%", 1, false},
		{"150%", 1.5, false}, // growth may exceed 100 %; ranges are the caller's
		{"12.5%", 0.125, false},
		{"0%", 0, false},
		{"-20%", -0.2, false},
		{"6e-1", 0.6, false},
		{"60", 0, true}, // a percentage without its sign
		{"sixty", 0, true},
		{"%", 0, true},
		{"", 0, true},
		{"NaN", 0, true},
		{"Inf%", 0, true},
		{"0x1p-1", 0, true},
		{"1/2", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseShare(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseShare(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil {
			asError(t, err)
		}
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"25M", 25_000_000, false},
		{"25000000", 25_000_000, false},
		{"2.5e7", 25_000_000, false},
		{"25_000_000", 25_000_000, false},
		{"1.5k", 1500, false},
		{"3K", 3000, false},
		{"2G", 2_000_000_000, false},
		{"0", 0, false},
		{"-5", -5, false},
		{"16Gi", 16 << 30, false},
		{"1.5Ki", 1536, false},
		{"512Mi", 512 << 20, false},
		{"1Ti", 1 << 40, false},
		{"1.1Ki", 0, true},
		{"Gi", 0, true},
		{"9223372036854775807", math.MaxInt64, false},
		{"9223372036854775808", 0, true},
		{"1e30", 0, true},
		{"1.2345k", 0, true},
		{"2.5", 0, true},
		{"25m", 0, true}, // milli or million? refused
		{"lots", 0, true},
		{"M", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseCount(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseCount(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil {
			asError(t, err)
		}
	}
}

// TestFormatShareRoundTrip: what formatShare writes, ParseShare reads back
// exactly, and reads as a person would write it where that is possible.
func TestFormatShareRoundTrip(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0.6, "60%"}, {0.2, "20%"}, {1, "100%"}, {0.125, "12.5%"}, {0.01, "1%"}, {1.0 / 3, "33.33333333333333%"},
		{2.5, "250%"}, {0, "0%"}, {1e-300, "1e-298%"}, {math.MaxFloat64, "1.7976931348623157e+308"},
	}
	for _, tt := range tests {
		s := formatShare(tt.in)
		if s != tt.want {
			t.Errorf("formatShare(%v) = %q, want %q", tt.in, s, tt.want)
		}
		back, err := ParseShare(s)
		if tt.in <= 1 || s[len(s)-1] == '%' {
			if err != nil || back != tt.in {
				t.Errorf("ParseShare(%q) = %v, %v; want %v", s, back, err, tt.in)
			}
		}
	}
}

func TestFormatCount(t *testing.T) {
	for in, want := range map[int64]string{25_000_000: "25M", 1500: "1500", 3000: "3k", 2e9: "2G", 0: "0", -4000: "-4k", 1234567: "1234567"} {
		if got := formatCount(in); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", in, got, want)
		}
		if back, err := ParseCount(formatCount(in)); err != nil || back != in {
			t.Errorf("ParseCount(%q) = %v, %v", formatCount(in), back, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for in, want := range map[int64]string{16 << 30: "16Gi", 1536 << 20: "1536Mi", 1000: "1000", 0: "0", 1 << 40: "1Ti"} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", in, got, want)
		}
		if back, err := ParseCount(formatBytes(in)); err != nil || back != in {
			t.Errorf("ParseCount(%q) = %v, %v", formatBytes(in), back, err)
		}
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"named_users", "concurrency", "tpm", "records"}
	for in, want := range map[string]string{"named_user": "named_users", "Concurency": "concurrency", "tmp": "tpm", "recs": "", "colour": ""} {
		got, ok := nearest(in, keys)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
}
