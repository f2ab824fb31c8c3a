package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMarketingBadInput: crm marketing names the flag that is wrong and
// exits 2 before it opens anything.
func TestMarketingBadInput(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no CRM", nil, `"crm"`},
		{"not a URL", []string{"--crm", "10.0.2.10:8081"}, "--crm"},
		{"a second one not a URL", []string{"--crm", "http://10.0.2.10:8081", "--crm", "api-2:8081"}, "api-2:8081"},
		{"a CA file without a certificate", []string{"--crm", "https://10.0.2.10:8443", "--crm-ca-file", notPEM}, "--crm-ca-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"crm", "marketing", "--database-url", "postgres://marketing@127.0.0.1:1/marketing"}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q: want a failure naming %s", code, stderr.String(), tt.want)
			}
			if tt.name != "no CRM" && code != 2 {
				t.Errorf("exit %d, want 2 for bad input", code)
			}
		})
	}
}
