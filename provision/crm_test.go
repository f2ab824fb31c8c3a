package provision

import "testing"

func TestReleaseVersion(t *testing.T) {
	tests := []struct {
		name, out, digest, want string
	}{
		{"urfave version line", "crm version 1.2.0\n", "3f9a0c1d2e4b5a6978", "1.2.0-3f9a0c1d2e4b"},
		{"dev build", "crm version dev\n", "01cf62b4f9af00", "dev-01cf62b4f9af"},
		{"odd characters", "crm version 2.0/rc 1:x\n", "abcdef0123456789", "1_x-abcdef012345"},
		{"path-like", "crm version ../../etc\n", "abcdef0123456789", "etc-abcdef012345"},
		{"no output", "", "abcdef0123456789", "dev-abcdef012345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := releaseVersion(tt.out, tt.digest); got != tt.want {
				t.Errorf("releaseVersion(%q) = %q, want %q", tt.out, got, tt.want)
			}
		})
	}
}
