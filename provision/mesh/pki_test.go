package mesh

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckNodeCert(t *testing.T) {
	ours, err := NewCA("prod")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := NewCA("staging")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *CA, id string) *x509.Certificate {
		der, _, err := ca.Issue(id, []net.IP{net.ParseIP("127.10.1.10")})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	tests := []struct {
		name    string
		cert    *x509.Certificate
		want    string
		wantErr string
	}{
		{name: "our CA, its own node ID", cert: issue(ours, "api-1"), want: "api-1"},
		{name: "another stack's CA", cert: issue(theirs, "api-1"), want: "api-1", wantErr: "not from this stack's CA"},
		{name: "another node's certificate", cert: issue(ours, "api-2"), want: "api-1", wantErr: "names node IDs [api-2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNodeCert(ours.Cert, tt.cert, tt.want)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// The node ID must be where Receptor looks: an otherName of OID
// 1.3.6.1.4.1.2312.19.1 in the subjectAltName, next to the IP SAN that Go
// itself parses.
func TestIssueNamesNodeAndAddress(t *testing.T) {
	ca, err := NewCA("prod")
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := ca.Issue("web-1", []net.IP{net.ParseIP("127.10.1.10")})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := NodeIDs(cert)
	if err != nil || !slices.Equal(ids, []string{"web-1"}) {
		t.Fatalf("NodeIDs = %v, %v; want [web-1]", ids, err)
	}
	if len(cert.IPAddresses) != 1 || cert.IPAddresses[0].String() != "127.10.1.10" {
		t.Errorf("IP SANs = %v", cert.IPAddresses)
	}
	if err := cert.VerifyHostname("127.10.1.10"); err != nil {
		t.Error(err)
	}
}

func TestLoadOrCreateCAKeepsTheCA(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateCA(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Cert.Equal(again.Cert) {
		t.Error("a second load made a new CA: every node certificate would go invalid")
	}
	fi, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}
