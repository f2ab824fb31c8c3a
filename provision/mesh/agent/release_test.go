package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archive builds a release payload of name -> content files and its digest.
func archive(t *testing.T, files map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:])
}

func TestInstall(t *testing.T) {
	good, goodSum := archive(t, map[string]string{"crm": "v2 binary"})
	evil, evilSum := archive(t, map[string]string{"../../escape": "x"})
	tests := []struct {
		name        string
		version     string
		payload     []byte
		sum         string
		wantErr     string
		wantCurrent string
	}{
		{name: "checked payload goes live", version: "v2", payload: good, sum: goodSum, wantCurrent: "v2"},
		{name: "digest mismatch installs nothing", version: "v2", payload: good, sum: strings.Repeat("ab", 32),
			wantErr: "payload SHA-256 is " + goodSum, wantCurrent: "v1"},
		{name: "truncated payload installs nothing", version: "v2", payload: good[:len(good)/2], sum: goodSum,
			wantErr: "release payload", wantCurrent: "v1"},
		{name: "path outside the release refused", version: "v2", payload: evil, sum: evilSum,
			wantErr: `refusing entry "../../escape"`, wantCurrent: "v1"},
		{name: "version that is no directory name", version: "../v2", payload: good, sum: goodSum,
			wantErr: "release version", wantCurrent: "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Host{Dir: t.TempDir()}
			v1, v1Sum := archive(t, map[string]string{"crm": "v1 binary"})
			if err := h.Install("v1", v1Sum, bytes.NewReader(v1)); err != nil {
				t.Fatal(err)
			}
			err := h.Install(tt.version, tt.sum, bytes.NewReader(tt.payload))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := h.Current(); got != tt.wantCurrent {
				t.Errorf("current = %q, want %q", got, tt.wantCurrent)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(h.Dir), "escape")); err == nil {
				t.Error("an archive entry escaped the host directory")
			}
			entries, _ := os.ReadDir(h.releasesDir())
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".staging-") {
					t.Errorf("staging directory %s left behind", e.Name())
				}
			}
		})
	}
}

func TestInstallKeepsPreviousAndRollsBack(t *testing.T) {
	h := Host{Dir: t.TempDir()}
	for _, v := range []string{"v1", "v2", "v3"} {
		payload, sum := archive(t, map[string]string{"crm": v + " binary"})
		if err := h.Install(v, sum, bytes.NewReader(payload)); err != nil {
			t.Fatal(err)
		}
	}
	if h.Current() != "v3" || h.Previous() != "v2" {
		t.Fatalf("current %q previous %q, want v3 v2", h.Current(), h.Previous())
	}
	if _, err := os.Stat(h.releaseDir("v1")); !os.IsNotExist(err) {
		t.Errorf("v1 should be pruned (only current and previous are kept): %v", err)
	}
	data, err := os.ReadFile(filepath.Join(h.Dir, "current", "crm"))
	if err != nil || string(data) != "v3 binary" {
		t.Fatalf("current/crm = %q, %v", data, err)
	}
	if fi, _ := os.Stat(filepath.Join(h.Dir, "current", "crm")); fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("crm lost its executable bit: %v", fi.Mode())
	}
	got, err := h.Rollback()
	if err != nil || got != "v2" || h.Current() != "v2" || h.Previous() != "v3" {
		t.Fatalf("rollback -> %q (%v); current %q previous %q", got, err, h.Current(), h.Previous())
	}
	data, _ = os.ReadFile(filepath.Join(h.Dir, "current", "crm"))
	if string(data) != "v2 binary" {
		t.Errorf("after rollback current/crm = %q", data)
	}
	// The same version and digest again is a no-op; other contents under a
	// live version are refused.
	payload, sum := archive(t, map[string]string{"crm": "v2 binary"})
	if err := h.Install("v2", sum, bytes.NewReader(payload)); err != nil {
		t.Errorf("reinstall of the live release: %v", err)
	}
	payload, sum = archive(t, map[string]string{"crm": "v2 rebuilt"})
	if err := h.Install("v2", sum, bytes.NewReader(payload)); err == nil || !strings.Contains(err.Error(), "new version") {
		t.Errorf("other contents under live v2: %v", err)
	}
}

func TestRollbackWithoutPrevious(t *testing.T) {
	h := Host{Dir: t.TempDir()}
	if _, err := h.Rollback(); err == nil || !strings.Contains(err.Error(), "no previous release") {
		t.Fatalf("err = %v", err)
	}
}
