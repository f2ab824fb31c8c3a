package provision

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// BenchmarkNoChange measures, in one run, Pulumi's own floor (a no-change
// `up` of a stack with one resource of this provider, through the same
// Automation API and CLI) and crmplan's no-change apply of seed 000 (which
// refreshes every resource first). The goal is apply within 1.5x the floor.
//
//	go test ./provision -run '^$' -bench NoChange -benchtime 5x
func BenchmarkNoChange(b *testing.B) {
	pulumiBin, err := filepath.Abs("../bin/pulumi")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(pulumiBin); err != nil {
		b.Skip("no ../bin/pulumi: run make bin/pulumi")
	}
	self, _ := os.Executable()
	ctx := context.Background()
	root := benchRoot(b)

	b.Run("floor-one-resource-up", func(b *testing.B) {
		paths := stackdir.Paths{StateDir: filepath.Join(root, "floor"), Stack: "floor"}
		one := func(ctx *pulumi.Context) error {
			var res secretResource
			return ctx.RegisterResource(tokenSecret, "one", pulumi.Map{"purpose": pulumi.String("one")}, &res)
		}
		s, err := openStack(ctx, paths, Binaries{Self: self, Pulumi: pulumiBin}, one)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Up(ctx); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Up(ctx, optup.ExpectNoChanges()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if _, err := s.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
	})

	b.Run("simplecrm-apply", func(b *testing.B) {
		req := simplecrmRequest(b, root, self, pulumiBin)
		start := time.Now()
		if _, err := Apply(ctx, req); err != nil {
			b.Fatal(err)
		}
		b.Logf("nothing to serving: %.1fs", time.Since(start).Seconds())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := Apply(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if Changed(res.Changes) {
				b.Fatalf("no-change apply changed %v", res.Changes)
			}
		}
		b.StopTimer()
		if _, err := Destroy(ctx, req); err != nil {
			b.Fatal(err)
		}
	})
}

// benchRoot is a directory the postgres user can pass through.
func benchRoot(b *testing.B) string {
	root, err := os.MkdirTemp("/tmp", "crmplan-bench-")
	if err != nil {
		b.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	b.Cleanup(func() { os.RemoveAll(root) })
	return root
}

// simplecrmRequest sizes examples/simplecrm.yaml and builds crm for it.
func simplecrmRequest(b *testing.B, root, self, pulumiBin string) Request {
	data, err := os.ReadFile("../examples/simplecrm.yaml")
	if err != nil {
		b.Fatal(err)
	}
	// Its own loopback ranges: a demo stack of the example may be running.
	data = bytes.ReplaceAll(data, []byte("127.10."), []byte("127.32."))
	plan, err := topology.DecodePlan("simplecrm.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	l, err := topology.Lay(plan)
	if err != nil {
		b.Fatal(err)
	}
	est := l.Estimate
	// The hosts' mesh agents run `crmplan agent`, which this test binary
	// is not: the built crmplan is the plugin, supervisor and agent here.
	for _, pkg := range []string{"./cmd/crm", "./cmd/crmplan"} {
		build := exec.Command("go", "build", "-o", root+"/", pkg)
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	crm, self := filepath.Join(root, "crm"), filepath.Join(root, "crmplan")
	return Request{
		StateDir: filepath.Join(root, "state"), Stack: plan.Name, Topology: l.Topology,
		Settings: est.Database.Settings, Replication: topology.Async, Records: 500, Users: 10,
		Pool: est.Database.PoolPerAppServer, Out: io.Discard,
		Bins: Binaries{Self: self, Pulumi: pulumiBin, Crm: crm},
	}
}
