package wire

import "testing"

func TestErrorKind(t *testing.T) {
	tests := []struct{ status, code, want string }{
		{"503", "1503", "http_5xx"},
		{"404", "1404", "http_4xx"},
		{"0", "1050", "timeout"},
		{"0", "1212", "connection_refused"},
		{"0", "1220", "connection_reset"},
		{"0", "1101", "dns"},
		{"0", "1000", "k6_1000"},
		{"0", "", "other"},
	}
	for _, tt := range tests {
		if got := ErrorKind(tt.status, tt.code); got != tt.want {
			t.Errorf("ErrorKind(%s, %s) = %s, want %s", tt.status, tt.code, got, tt.want)
		}
	}
}
