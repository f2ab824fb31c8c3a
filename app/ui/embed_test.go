package ui

import (
	"io/fs"
	"strings"
	"testing"
)

// The embedded tree must have index.html at its root: `crm web` serves it
// for every client-side route.
func TestFSHasIndex(t *testing.T) {
	b, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatalf("read index.html: %v", err)
	}
	if !strings.Contains(string(b), `id="root"`) {
		t.Fatalf("index.html has no #root element:\n%s", b)
	}
}
