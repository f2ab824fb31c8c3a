package chromium

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmplan/crmplan"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "chromium")
	plain := filepath.Join(dir, "notes.txt")
	for path, mode := range map[string]os.FileMode{exe: 0o755, plain: 0o644} {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		path    string
		env     string
		want    string
		wantErr string
	}{
		{"explicit", exe, "", exe, ""},
		{"environment", "", exe, exe, ""},
		{"explicit beats environment", exe, plain, exe, ""},
		{"missing", filepath.Join(dir, "nope"), "", "", crmplan.EUNAVAILABLE},
		{"not executable", plain, "", "", crmplan.EUNAVAILABLE},
		{"a directory", dir, "", "", crmplan.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvPath, tt.env)
			b, err := Find(tt.path)
			if code := crmplan.ErrorCode(err); code != tt.wantErr {
				t.Fatalf("Find(%q) error %v, want code %q", tt.path, err, tt.wantErr)
			}
			if b.Path != tt.want {
				t.Errorf("Find(%q) = %q, want %q", tt.path, b.Path, tt.want)
			}
		})
	}
}

func TestRenderMissingPage(t *testing.T) {
	b := Browser{Path: "/bin/true"} // never started: the page check comes first
	err := b.PrintPDF(context.Background(), filepath.Join(t.TempDir(), "missing.html"), filepath.Join(t.TempDir(), "out.pdf"))
	if crmplan.ErrorCode(err) != crmplan.ENOTFOUND {
		t.Fatalf("PrintPDF of a missing page = %v, want ENOTFOUND", err)
	}
}

// TestNoOutputIsAnError runs a "browser" that exits 0 and writes nothing: a
// silent Chromium must not pass for a printed report.
func TestNoOutputIsAnError(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte("<p>x</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Browser{Path: "/bin/true"}.Screenshot(context.Background(), page, filepath.Join(dir, "shot.png"), 800, 600)
	if crmplan.ErrorCode(err) != crmplan.EUNAVAILABLE {
		t.Fatalf("Screenshot with no output = %v, want EUNAVAILABLE", err)
	}
}
