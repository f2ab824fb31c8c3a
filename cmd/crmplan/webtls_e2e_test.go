package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/loadgen"
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

// BenchmarkWebTLSVersusPlain drives seed 000's 150 req/s through crm web
// over HTTPS (a certificate from a stack CA, as apply deploys it) and,
// in the same run against the same api servers and database, through a
// plain-HTTP crm web before and after, and reports each one's achieved
// rate, p95 and dropped iterations:
//
//	go test ./cmd/crmplan -run '^$' -bench WebTLSVersusPlain -benchtime 1x -timeout 30m
func BenchmarkWebTLSVersusPlain(b *testing.B) {
	bin := buildBinaries(b)
	stateDir := b.TempDir()
	st := startStack(b, bin, stateDir)
	plainWeb := freeAddr(b, st.ip+"5")
	startProcess(b, st.crm, "web", "--listen", plainWeb, "--backend", st.apis[0], "--backend", st.apis[1])
	waitReady(b, "http://"+plainWeb+"/readyz")
	run := func(name string, args ...string) loadgen.Result {
		cmd := exec.Command(filepath.Join(bin, "crmplan"), append([]string{"verify", "--plan", "../../examples/simplecrm.yaml",
			"--state-dir", stateDir, "--duration", "30s", "--ramp-up", "5s", "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "CRMPLAN_EMAIL="+st.inv.LoadUser.Email, "CRMPLAN_PASSWORD="+st.inv.LoadUser.Password)
		out, err := cmd.Output()
		var res loadgen.Result
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			b.Fatalf("verify %s: %v, %v\n%s", name, err, jerr, out)
		}
		b.Logf("%-5s %6.1f of %.0f req/s, %d requests, %d failed, %d dropped, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, k6 %.2f cores",
			name, res.AchievedRate, res.TargetRate, res.Requests, res.Failed, res.Dropped, res.Latency.P50Ms, res.Latency.P95Ms, res.Latency.P99Ms, res.GeneratorCPU)
		// Dropped iterations are the machine's load (k6 shares the cores
		// with the stack): reported, not failed.
		if res.Failed != 0 {
			b.Errorf("verify %s: %d requests failed: %v", name, res.Failed, res.Errors)
		}
		return res
	}
	for b.Loop() {
		// Plain first, then HTTPS, then plain again: the machine's load
		// drifts, and the two plain runs show by how much.
		plainRes := run("http", "--target", "http://"+plainWeb)
		tlsRes := run("https", "--target", st.webHTTPS, "--ca-file", st.inv.WebCA)
		plainAgain := run("http", "--target", "http://"+plainWeb)
		b.ReportMetric(tlsRes.AchievedRate, "https-req/s")
		b.ReportMetric(tlsRes.Latency.P95Ms, "https-p95-ms")
		b.ReportMetric(float64(tlsRes.Dropped), "https-dropped")
		b.ReportMetric((plainRes.AchievedRate+plainAgain.AchievedRate)/2, "http-req/s")
		b.ReportMetric(max(plainRes.Latency.P95Ms, plainAgain.Latency.P95Ms), "http-worst-p95-ms")
		b.ReportMetric(float64(plainRes.Dropped+plainAgain.Dropped), "http-dropped")
	}
}
