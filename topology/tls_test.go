package topology

import (
	"os"
	"strings"
	"testing"
)

// TestPlanTLS reads the plan's tls section, writes it back the same, and
// refuses what is not one of its fields.
func TestPlanTLS(t *testing.T) {
	base, err := os.ReadFile("../examples/simplecrm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		section string
		want    *WebTLS
		wantErr string
	}{
		{"none", "", nil, ""},
		{"own certificate", "tls:\n  cert_file: web.crt\n  key_file: web.key\n  ca_file: ca.crt\n", &WebTLS{CertFile: "web.crt", KeyFile: "web.key", CAFile: "ca.crt"}, ""},
		{"off", "tls:\n  off: true\n", &WebTLS{Off: true}, ""},
		{"unknown field", "tls:\n  insecure: true\n", nil, "insecure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePlan("plan.yaml", append(append([]byte(nil), base...), tt.section...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.TLS == nil) != (tt.want == nil) || p.TLS != nil && *p.TLS != *tt.want {
				t.Fatalf("tls = %+v, want %+v", p.TLS, tt.want)
			}
			out, err := EncodePlan(p)
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodePlan("again.yaml", out)
			if err != nil || (again.TLS == nil) != (p.TLS == nil) || p.TLS != nil && *again.TLS != *p.TLS {
				t.Fatalf("round trip: %+v, %v\n%s", again.TLS, err, out)
			}
		})
	}
}
