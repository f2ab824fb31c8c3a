package provision

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan/provision/stackdir"
)

// A crmplan killed while the file backend wrote a checkpoint's sidecar
// (.attrs, truncated first and not written by rename) left it empty, and
// every later command on the stack failed: "failed to load checkpoint:
// EOF" (TestApplyIsolatedKilledMidway, once in a make test run). The
// backend writes no sidecars now, and an empty one left by an earlier
// version is removed when the stack is opened.
func TestStackOpensPastAnEmptySidecar(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Pulumi")
	}
	ctx := context.Background()
	bins := Binaries{Self: testCrmplan(t), Pulumi: testPulumi(t)}
	paths := stackdir.Paths{StateDir: t.TempDir(), Stack: "sidecar"}
	one := func(ctx *pulumi.Context) error {
		var res secretResource
		return ctx.RegisterResource(tokenSecret, "one", pulumi.Map{"purpose": pulumi.String("one")}, &res)
	}
	s, err := openStack(ctx, paths, bins, one)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Up(ctx); err != nil {
		t.Fatal(err)
	}
	stacks := filepath.Join(paths.Backend(), ".pulumi", "stacks")
	var checkpoint string
	_ = filepath.WalkDir(stacks, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, "/sidecar.json") {
			checkpoint = path
		}
		if err == nil && strings.HasSuffix(path, ".attrs") {
			t.Errorf("the backend wrote a sidecar: %s", path)
		}
		return nil
	})
	if checkpoint == "" {
		t.Fatalf("no checkpoint sidecar.json under %s", stacks)
	}

	// What the kill left behind.
	if err := os.WriteFile(checkpoint+".attrs", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = openStack(ctx, paths, bins, one)
	if err != nil {
		t.Fatalf("open the stack with an empty sidecar beside its checkpoint: %v", err)
	}
	if _, err := s.Up(ctx, optup.ExpectNoChanges()); err != nil {
		t.Fatalf("no-change up after the sidecar was removed: %v", err)
	}
	if _, err := s.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}
