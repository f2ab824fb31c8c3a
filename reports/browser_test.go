package reports

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/crmplan/crmplan/reports/chromium"
)

// artifacts is where the browser tests leave what a person should look at
// (gitignored): the rendered report as HTML, PNG and PDF.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "test-artifacts", "reports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func browser(t *testing.T) chromium.Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("starts headless Chromium; skipped under -short")
	}
	b, err := chromium.Find("")
	if err != nil {
		t.Fatalf("%v (make deps installs it)", err)
	}
	return b
}

// TestScreenshot renders each fixture's page in headless Chromium and saves
// a PNG to look at. It checks what a machine can: the browser rendered a
// page of the expected size that is not blank.
func TestScreenshot(t *testing.T) {
	b := browser(t)
	dir := artifacts(t)
	for _, fx := range fixtures() {
		t.Run(fx.name, func(t *testing.T) {
			files := writeFixture(t, dir, fx.name, fx.in)
			pngPath := filepath.Join(dir, fx.name+".png")
			const w, h = 1280, 5600
			if err := b.Screenshot(context.Background(), files.HTML, pngPath, w, h); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(pngPath)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("screenshot is not a PNG: %v", err)
			}
			if got := img.Bounds().Size(); got.X != w || got.Y != h {
				t.Errorf("screenshot is %v, want %dx%d", got, w, h)
			}
			// The header band is the brand colour #12355b: a blank or
			// unstyled page has none.
			r, g, bl, _ := img.At(w/2, 20).RGBA()
			if r>>8 != 0x12 || g>>8 != 0x35 || bl>>8 != 0x5b {
				t.Errorf("pixel (%d,20) = #%02x%02x%02x, want the header's #12355b: the page did not render styled", w/2, r>>8, g>>8, bl>>8)
			}
			t.Logf("look at %s", pngPath)
		})
	}
}

func TestPrintPDF(t *testing.T) {
	b := browser(t)
	dir := artifacts(t)
	fx := fixtures()[0]
	files := writeFixture(t, dir, "pdf-"+fx.name, fx.in)
	pdfPath := filepath.Join(dir, fx.name+".pdf")
	if err := b.PrintPDF(context.Background(), files.HTML, pdfPath); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pdfPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		t.Fatalf("%s is not a PDF (starts %q)", pdfPath, data[:min(len(data), 8)])
	}
	// A4 is 595.28 × 841.89 points; Chromium writes 594.96 × 841.92.
	if !regexp.MustCompile(`/MediaBox \[0 0 59[45]\.\d+ 84[12]\.\d+\]`).Match(data) {
		t.Errorf("%s has no A4 MediaBox", pdfPath)
	}
	pages := len(regexp.MustCompile(`/Type /Page\b[^s]`).FindAll(data, -1))
	if pages < 3 {
		t.Errorf("%s has %d pages, want the whole report (3 or more A4 pages)", pdfPath, pages)
	}
	t.Logf("look at %s (%d pages, %d bytes)", pdfPath, pages, len(data))
}

func writeFixture(t *testing.T, dir, name string, in Inputs) Files {
	t.Helper()
	r, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	files, err := WriteFiles(filepath.Join(dir, name), r)
	if err != nil {
		t.Fatal(err)
	}
	return files
}
