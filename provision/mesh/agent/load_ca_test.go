package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// TestLoadTrustsTheStackCA: a generator's k6 gets the spec's CA as its
// only roots (SSL_CERT_FILE), and no CA leaves the host's roots alone.
func TestLoadTrustsTheStackCA(t *testing.T) {
	dir := t.TempDir()
	spec := wire.LoadSpec{Script: "x", CA: "-----BEGIN CERTIFICATE-----\n...\n", Env: map[string]string{"CRMPLAN_TARGET": "https://127.0.0.1:1"}}
	got, err := withCA(spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	ca := got.Env["SSL_CERT_FILE"]
	if b, err := os.ReadFile(ca); err != nil || string(b) != spec.CA || filepath.Dir(ca) != dir {
		t.Fatalf("SSL_CERT_FILE %q: %q, %v; want the spec's CA in the run's directory", ca, b, err)
	}
	if _, ok := spec.Env["SSL_CERT_FILE"]; ok {
		t.Error("withCA changed the caller's environment map")
	}
	cmd := k6Run(t.Context(), []string{"k6"}, got, "script.js", "points.json", "127.0.0.1:1", nil)
	if !slices.Contains(cmd.Env, "SSL_CERT_FILE="+ca) {
		t.Errorf("k6's environment lacks SSL_CERT_FILE=%s", ca)
	}
	plain, err := withCA(wire.LoadSpec{Script: "x"}, dir)
	if err != nil || plain.Env["SSL_CERT_FILE"] != "" {
		t.Errorf("no CA: %v, %v; want the host's roots", plain.Env, err)
	}
}
