package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/seed"
)

// testCert makes a CA and a server certificate for 127.0.0.1 signed by it,
// and writes the certificate and key (0600) into dir.
func testCert(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "web"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return certFile, keyFile, roots
}

// TestWebTLS runs crm web with a certificate in front of two real api
// servers (Secure cookies on): HTTPS serves the UI and the API, plain HTTP
// on the same port is redirected to HTTPS except for the health and
// metrics endpoints, and the session cookie is Secure (finding 6).
func TestWebTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three crm processes")
	}
	t.Setenv("CRM_SECURE_COOKIES", "true") // the api servers' environment
	s := startStack(t, 100)
	dir := t.TempDir()
	certFile, keyFile, roots := testCert(t, dir)
	addr := freeAddr(t)
	start(t, dir, "web-tls", "web", "--listen", addr, "--backend", s.urls[0], "--backend", s.urls[1],
		"--tls-cert-file", certFile, "--tls-key-file", keyFile)
	waitReady(t, "http://"+addr) // /readyz answers plain HTTP: the agent's check
	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	jar, _ := cookiejar.New(nil)
	secure := &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	tests := []struct {
		method, path string
		want         int
		location     string
	}{
		{"GET", "/", http.StatusPermanentRedirect, "https://" + addr + "/"},
		{"GET", "/contacts?q=x", http.StatusPermanentRedirect, "https://" + addr + "/contacts?q=x"},
		{"POST", "/api/v1/session", http.StatusPermanentRedirect, "https://" + addr + "/api/v1/session"},
		{"GET", "/healthz", http.StatusOK, ""},
		{"GET", "/metrics", http.StatusOK, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://"+addr+tt.path, strings.NewReader(`{}`))
		res, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.want || res.Header.Get("Location") != tt.location {
			t.Errorf("plain %s %s = %d to %q, want %d to %q", tt.method, tt.path, res.StatusCode, res.Header.Get("Location"), tt.want, tt.location)
		}
	}

	res, err := secure.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HTTPS GET / = %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}
	body, _ := json.Marshal(map[string]string{"email": "rep1@example.com", "password": seed.UserPassword(e2eKey, "rep1@example.com")})
	res, err = secure.Post("https://"+addr+"/api/v1/session", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, c := range res.Cookies() {
		session = c
	}
	if res.StatusCode != 200 || session == nil || !session.Secure || !session.HttpOnly {
		t.Fatalf("sign-in over HTTPS = %d, cookie %+v; want 200 and a Secure, HttpOnly cookie", res.StatusCode, session)
	}
	if res, err := secure.Get("https://" + addr + "/api/v1/session"); err != nil || res.StatusCode != 200 {
		t.Fatalf("session over HTTPS: %v %v", res, err)
	}

	// A client that does not trust the certificate's CA is refused.
	if _, err := http.Get("https://" + addr + "/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("HTTPS without the CA: %v, want a certificate error", err)
	}
}

// TestWebTLSFlags: a certificate without its key, or a key others may
// read, stops crm web before it listens.
func TestWebTLSFlags(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := testCert(t, dir)
	open := filepath.Join(dir, "open.key")
	b, _ := os.ReadFile(keyFile)
	if err := os.WriteFile(open, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CRM_TLS_CERT", "")
	t.Setenv("CRM_TLS_KEY", "")
	for _, args := range [][]string{
		{"--tls-cert-file", certFile},
		{"--tls-key-file", keyFile},
		{"--tls-cert-file", certFile, "--tls-key-file", open},
		{"--tls-cert-file", keyFile, "--tls-key-file", keyFile},
	} {
		var out, errb strings.Builder
		argv := append([]string{"crm", "web", "--listen", "127.0.0.1:0", "--backend", "http://127.0.0.1:1"}, args...)
		if code := run(t.Context(), argv, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--tls-") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", args, code, errb.String())
		}
	}
}
