package topology

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmplan/crmplan/sizing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./topology -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run go test ./topology -update\n--- got:\n%s", path, got)
	}
}

// examples returns the plan files under examples/, by base name.
func examples(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// built decodes, sizes and builds one example.
func built(t *testing.T, name string, data []byte) (*Plan, sizing.Estimate, Topology) {
	t.Helper()
	p, err := DecodePlan(name, data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	l, err := Lay(p)
	if err != nil {
		t.Fatalf("lay: %v", err)
	}
	return p, l.Estimate, l.Topology
}
