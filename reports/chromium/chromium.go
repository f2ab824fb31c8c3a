// Package chromium prints and screenshots crmplan's HTML report with Debian's
// headless Chromium, run as a child process with its own throw-away profile.
//
// Chromium is started with every background service it has switched off
// (component updates, sync, safe browsing look-ups), so printing a report
// sends no traffic anywhere: the report itself references no URL.
package chromium

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/crmplan/crmplan"
)

// DefaultPath is where Debian's chromium package installs the browser.
const DefaultPath = "/usr/bin/chromium"

// EnvPath names the environment variable that overrides the browser path.
const EnvPath = "CRMPLAN_CHROMIUM"

// timeout bounds one print or screenshot; a cold start takes 1-3 s here.
const timeout = 2 * time.Minute

// Browser is one Chromium binary.
type Browser struct {
	Path string
}

// Find returns the browser at path, or when path is empty at $CRMPLAN_CHROMIUM,
// /usr/bin/chromium or the first chromium on $PATH. It returns EUNAVAILABLE
// when there is none.
func Find(path string) (Browser, error) {
	candidates := []string{path}
	if path == "" {
		candidates = []string{os.Getenv(EnvPath), DefaultPath}
		if p, err := exec.LookPath("chromium"); err == nil {
			candidates = append(candidates, p)
		}
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return Browser{Path: c}, nil
		}
	}
	return Browser{}, crmplan.Errorf(crmplan.EUNAVAILABLE, "headless Chromium is not installed (looked for %s)", strings.Join(nonEmpty(candidates), ", ")).
		In("--pdf").Try("apt-get install -y chromium (or make deps), or set %s", EnvPath)
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// PrintPDF prints the HTML file at htmlPath to pdfPath with the page's own
// print stylesheet (A4) and without Chromium's header and footer lines.
func (b Browser) PrintPDF(ctx context.Context, htmlPath, pdfPath string) error {
	return b.run(ctx, htmlPath, pdfPath, "--print-to-pdf="+pdfPath, "--no-pdf-header-footer")
}

// Screenshot renders the HTML file at htmlPath in a width × height window
// and saves the visible part as a PNG.
func (b Browser) Screenshot(ctx context.Context, htmlPath, pngPath string, width, height int) error {
	return b.run(ctx, htmlPath, pngPath, "--screenshot="+pngPath, fmt.Sprintf("--window-size=%d,%d", width, height),
		"--hide-scrollbars", "--force-device-scale-factor=1")
}

func (b Browser) run(ctx context.Context, htmlPath, outPath string, extra ...string) error {
	// EvalSymlinks resolves ".." the way the kernel does, after any link;
	// the file:// URL must name the file Chromium will really open.
	real, err := filepath.EvalSymlinks(htmlPath)
	if err != nil {
		return crmplan.Errorf(crmplan.ENOTFOUND, "no report to render: %w", err)
	}
	abs, err := filepath.Abs(real)
	if err != nil {
		return fmt.Errorf("chromium: %w", err)
	}
	_ = os.Remove(outPath) // so that a stale file never passes for fresh output
	profile, err := os.MkdirTemp("", "crmplan-chromium-*")
	if err != nil {
		return fmt.Errorf("chromium profile: %w", err)
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--disable-extensions", "--user-data-dir=" + profile}, extra...)
	args = append(args, "file://"+abs)
	cmd := exec.CommandContext(ctx, b.Path, args...)
	cmd.Env = append(os.Environ(), "HOME="+profile) // Chromium writes caches under HOME too
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "chromium could not render %s: %w: %s", htmlPath, err, lastLines(stderr.String(), 5)).
			Try("run %s --headless --no-sandbox --screenshot file://%s by hand to see why", b.Path, abs)
	}
	if st, err := os.Stat(outPath); err != nil || st.Size() == 0 {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "chromium wrote no %s: %s", outPath, lastLines(stderr.String(), 5))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
