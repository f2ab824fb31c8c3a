package provision

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// TestWebTLS: each web host gets a certificate from the stack's CA for its
// address, the same one again on the next apply, a new one when its
// address moves; the CA file is what verifies them.
func TestWebTLS(t *testing.T) {
	r := Request{StateDir: t.TempDir(), Stack: "s"}
	l := Layout{Stack: "s", Hosts: []LocalHost{
		{Host: topology.Host{Name: "web-1", Role: topology.RoleWeb, Address: "127.70.1.1", Port: 8080}},
		{Host: topology.Host{Name: "api-1", Role: topology.RoleAPI, Address: "127.70.2.1", Port: 8081}},
	}}
	certs, caFile, err := r.webTLS(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || caFile != (stackdir.Paths{StateDir: r.StateDir, Stack: "s"}).WebCA() {
		t.Fatalf("%d certificates, CA %q; want web-1's and the stack's CA file", len(certs), caFile)
	}
	verify := func(ck certKey, addr string) error {
		caPEM, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(caPEM)
		block, _ := pem.Decode([]byte(ck.Cert))
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return err
		}
		_, err = cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: addr})
		return err
	}
	if err := verify(certs["web-1"], "127.70.1.1"); err != nil {
		t.Fatalf("web-1's certificate: %v", err)
	}
	if st, err := os.Stat(filepath.Join(r.paths().WebTLSDir(), "web-1.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kept key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	again, _, err := r.webTLS(l)
	if err != nil || again["web-1"] != certs["web-1"] {
		t.Fatalf("a second apply issued a new certificate (%v): the web tier would roll for nothing", err)
	}
	l.Hosts[0].Address = "127.70.1.9"
	moved, _, err := r.webTLS(l)
	if err != nil || moved["web-1"] == certs["web-1"] || verify(moved["web-1"], "127.70.1.9") != nil {
		t.Fatalf("after the address moved: %v; want a new certificate for 127.70.1.9", err)
	}
	r.WebTLS = WebTLS{Off: true}
	if off, ca, err := r.webTLS(l); err != nil || off != nil || ca != "" {
		t.Fatalf("tls off: %d certificates, CA %q, %v", len(off), ca, err)
	}
	if _, err := os.Stat(caFile); !os.IsNotExist(err) {
		t.Errorf("tls off left the CA file for clients: %v", err)
	}
}

func TestWebTLSUserCertificate(t *testing.T) {
	dir := t.TempDir()
	r := Request{StateDir: t.TempDir(), Stack: "s"}
	l := Layout{Stack: "s", Hosts: []LocalHost{{Host: topology.Host{Name: "web-1", Role: topology.RoleWeb, Address: "127.70.1.1", Port: 8080}}}}
	own, _, err := r.webTLS(l) // any pair will do: the stack's, as the user's
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := write("web.crt", own["web-1"].Cert), write("web.key", own["web-1"].Key)
	r.StateDir = t.TempDir()
	tests := []struct {
		name    string
		tls     WebTLS
		wantErr bool
	}{
		{"pair", WebTLS{CertFile: cert, KeyFile: key}, false},
		{"no key", WebTLS{CertFile: cert}, true},
		{"key for the certificate", WebTLS{CertFile: key, KeyFile: key}, true},
		{"missing file", WebTLS{CertFile: cert, KeyFile: key + ".none"}, true},
		{"CA without a certificate in it", WebTLS{CertFile: cert, KeyFile: key, CAFile: key}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.WebTLS = tt.tls
			got, ca, err := r.webTLS(l)
			if tt.wantErr {
				if crmplan.ErrorCode(err) != crmplan.EINVALID {
					t.Fatalf("err = %v, want invalid", err)
				}
				return
			}
			if err != nil || got["web-1"] != own["web-1"] || ca != "" {
				t.Fatalf("%v, CA %q; want the user's pair and the system's roots", err, ca)
			}
		})
	}
}
