package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/stackdir"
)

// webClient is an HTTP client with a cookie jar that trusts the stack's
// web CA (the inventory's), as crmplan's own clients do; never one that
// skips verification.
func webClient(t *testing.T, inv stackdir.Inventory) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if inv.WebCA == "" {
		return c
	}
	pemData, err := os.ReadFile(inv.WebCA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		t.Fatalf("%s holds no certificate", inv.WebCA)
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	return c
}

// checkWebTLS: the stack's web tier serves HTTPS with a certificate from
// the stack's CA, redirects plain HTTP on the same port, and its session
// cookie is Secure (finding 6).
func checkWebTLS(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	if !strings.HasPrefix(inv.WebURL, "https://") || inv.WebCA == "" {
		t.Fatalf("web URL %q with CA %q: want HTTPS from the stack's CA by default", inv.WebURL, inv.WebCA)
	}
	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	httpURL := "http://" + strings.TrimPrefix(inv.WebURL, "https://")
	res, err := plain.Get(httpURL + "/api/v1/accounts")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != inv.WebURL+"/api/v1/accounts" {
		t.Errorf("plain HTTP = %d to %q, want 308 to %s", res.StatusCode, res.Header.Get("Location"), inv.WebURL+"/api/v1/accounts")
	}
	// The system's roots do not know the stack's CA.
	if _, err := http.Get(inv.WebURL + "/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("HTTPS without the stack's CA: %v, want a certificate error", err)
	}
	c := webClient(t, inv)
	res, err = c.Post(inv.WebURL+"/api/v1/session", "application/json",
		strings.NewReader(`{"email":"`+inv.LoadUser.Email+`","password":"`+inv.LoadUser.Password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) == 0 || !res.Cookies()[0].Secure {
		t.Errorf("sign-in over HTTPS: %s, cookies %v; want 200 and a Secure cookie", res.Status, res.Cookies())
	}
}
