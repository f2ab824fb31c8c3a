package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
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
			wantErr: "payload SHA-256 is", wantCurrent: "v1"},
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

// watched reads a payload for Install and, when Install has read all of
// it, lists the files the host directory then holds besides the received
// payload: what was unpacked before the digest could be known.
type watched struct {
	r        io.Reader
	dir      string
	read     int64
	unpacked []string
}

func (w *watched) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.read += int64(n)
	if errors.Is(err, io.EOF) && w.unpacked == nil {
		w.unpacked = []string{}
		filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".staging-payload-") {
				w.unpacked = append(w.unpacked, path)
			}
			return nil
		})
	}
	return n, err
}

// TestInstallChecksBeforeUnpacking feeds the agent a release with a wrong
// digest, one over the size cap and one that unpacks to more than its cap
// (issue 19: the digest was checked after unpacking, with no cap). None
// may leave a file behind, and none may unpack a byte before the whole
// payload is read and checked.
func TestInstallChecksBeforeUnpacking(t *testing.T) {
	const limit = 64 << 10
	good, goodSum := archive(t, map[string]string{"crm": "v2 binary", "ui/index.html": "<html>"})
	noise := make([]byte, 4*limit)
	rand.Read(noise) // incompressible: the archive is as large as its file
	big, bigSum := archive(t, map[string]string{"crm": string(noise)})
	zeros, zerosSum := archive(t, map[string]string{"crm": strings.Repeat("\x00", unpackRatio*limit+1)})
	tests := []struct {
		name    string
		payload []byte
		sum     string
		wantErr string
	}{
		{"wrong digest", good, strings.Repeat("ab", 32), "payload SHA-256 is " + goodSum},
		{"over the size cap", big, bigSum, "payload is larger than 65536 bytes"},
		{"unpacks past its cap", zeros, zerosSum, "unpacks to more than 262144 bytes"},
		{"checked, then unpacked", good, goodSum, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Host{Dir: t.TempDir(), MaxRelease: limit}
			w := &watched{r: bytes.NewReader(tt.payload), dir: h.Dir}
			err := h.Install("v2", tt.sum, w)
			if len(w.unpacked) > 0 {
				t.Errorf("unpacked before the payload was checked: %v", w.unpacked)
			}
			if w.read > limit+1 {
				t.Errorf("read %d bytes of the payload, want at most the cap and one", w.read)
			}
			if tt.wantErr == "" {
				if err != nil || h.Current() != "v2" {
					t.Fatalf("install: %v, current %q", err, h.Current())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if entries, _ := os.ReadDir(h.releasesDir()); len(entries) > 0 || h.Current() != "" {
				t.Errorf("left behind: %v, current %q", entries, h.Current())
			}
		})
	}
}
