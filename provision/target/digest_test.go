package target

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFileSHA256 checks the digest against sha256sum's for known contents
// (FIPS 180-2's "abc" and the empty file): the ssh target compares it with
// sha256sum on the machines.
func TestFileSHA256(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data, want string
	}{
		{name: "abc", data: "abc", want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{name: "empty", data: "", want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, err := FileSHA256(path); err != nil || got != tt.want {
				t.Errorf("FileSHA256 = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := FileSHA256(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file has a digest")
	}
}
