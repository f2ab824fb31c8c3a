package provision

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// TestCheckWeb: status trusts the stack's CA, and only it.
func TestCheckWeb(t *testing.T) {
	ca, err := mesh.NewCA("s")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer("web-1", []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		inv  stackdir.Inventory
		want string
	}{
		{"plain", stackdir.Inventory{WebURL: "http://127.0.0.1:1"}, "plain HTTP"},
		{"without the stack's CA", stackdir.Inventory{WebURL: srv.URL}, "HTTPS: "},
		{"with the stack's CA", stackdir.Inventory{WebURL: srv.URL, WebCA: caFile}, "HTTPS 200 OK, certificate valid until 20"},
		{"CA file gone", stackdir.Inventory{WebURL: srv.URL, WebCA: caFile + ".none"}, "cannot read the stack's CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkWeb(context.Background(), tt.inv); !strings.HasPrefix(got, tt.want) {
				t.Errorf("checkWeb = %q, want %q...", got, tt.want)
			}
		})
	}
}
