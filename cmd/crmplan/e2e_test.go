package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// e2eRanges gives every end-to-end test (or subtest) that brings up a
// stack its own loopback addresses, so that they run in parallel
// (t.Parallel; go test's -parallel, GOMAXPROCS by default, bounds how many
// at once) without sharing a port: the hosts' servers listen on their own
// address (PostgreSQL 5432, crm 8080.., the mesh relay 27199 on the relay
// host's address), so two stacks collide only on a shared address (or a
// shared state dir: each test has its own, from newDeployEnv). The examples'
// zones are 127.10.1-3.0/24; a test's plan has "127.10." replaced by its
// prefix, so a prefix 127.N. owns 127.N.0.0/16.
//
// Taken elsewhere in the repository (go test ./... runs packages side by
// side, so keep clear of these too):
//
//	127.0.0.1        ephemeral ports, many packages
//	127.10.0.0/16    the examples as they are (make demo); provision's
//	                 loopback and mesh-status tests at 127.10.246-251
//	127.32.0.0/16    provision's BenchmarkNoChange
//	127.54.9.0/24    pgserver's failover test (inside TestAutomaticFailover's
//	                 127.54, which uses 127.54.1-2 only)
//	127.67.200.0/24  provision/watchdog's lease tests (127.67 is the ssh
//	                 target's; its rig is 10.66/16)
//	127.77.0.0/16    provision's local test
//	127.100-249      provision/mesh's tests (a random second octet each)
//
// Free for the next suites: 127.11-13, 127.15-30, 127.33-37, 127.40-44,
// 127.49, 127.51-52, 127.55, 127.60, 127.62, 127.65, 127.68, 127.72-73,
// 127.79-99 (127.67 is the ssh target's, 127.74-75 the seeds', for their
// next suites).
var e2eRanges = map[string]string{
	"TestApplySimpleCRM":                            "127.31.",
	"TestFailoverLostWrites/async":                  "127.38.",
	"TestFailoverLostWrites/sync":                   "127.39.",
	"TestEverySeedDeploysAndVerifies/longjump":      "127.45.",
	"TestEverySeedDeploysAndVerifies/arint":         "127.46.",
	"TestEverySeedDeploysAndVerifies/client-server": "127.47.",
	"TestEverySeedDeploysAndVerifies/smarten-ha":    "127.48.",
	// Seed 000 applied once for several tests' steps, one after the other.
	"TestSharedSimpleCRM":                    "127.50.",
	"TestChaosPrimaryLossSyncAndAsync/sync":  "127.53.",
	"TestChaosPrimaryLossSyncAndAsync/async": "127.56.",
	"TestAutomaticFailover":                  "127.54.",
	"TestVerifyRealStack":                    "127.57.", // no plan: its servers on 127.57.1.x
	"BenchmarkFindMaxLocalStack":             "127.58.", // likewise on 127.58.1.x
	"BenchmarkWebTLSVersusPlain":             "127.70.", // likewise on 127.70.1.x
	// --isolate moves the plan's 127.59.N.0/24 zones to 10.59.N.0/24, in
	// network namespaces (no route of this machine is in 10.0.0.0/8;
	// provision/target/netns's tests use 10.231.0.0/16).
	"TestApplyIsolated": "127.59.",
	// The loadgen tier's outside zone is 127.64.0.0/24, the others as usual.
	"TestVerifyLoadgenHosts": "127.64.",
	// The chaos suite and the interrupted apply on isolated stacks:
	// 10.61 and 10.63.N.0/24 in namespaces (TestApplyIsolated's stack
	// also takes an api server's kill under load, in 10.59, and
	// TestApplyIsolatedKilledMidway's the async primary loss).
	"TestChaosPrimaryLossIsolated/sync": "127.61.",
	"TestApplyIsolatedKilledMidway":     "127.63.",
	// Seed 002's VPN on an isolated stack: zones 10.14.N.0/24; the
	// tunnel's addresses and the test's laptop namespace in 10.238.0.0/16.
	"TestVPNIsolated": "127.14.",
	// --target ssh: the plan's 127.66.N.0/24 zones are the rig's machines
	// in 10.66.N.0/24, network namespaces each running sshd (provision/
	// target/ssh's own tests use 10.232-233.0.0/16). 127.67. is kept for
	// the ssh target's next suite.
	"TestApplySSH": "127.66.",
	// Seeds 000 and 001, predicted against measured (make model-accuracy).
	"BenchmarkModelAccuracy/simplecrm": "127.71.",
	"BenchmarkModelAccuracy/longjump":  "127.76.",
	// make bench-stack: seed 000 at its plan's 25M records.
	"BenchmarkFullScaleStack": "127.78.",
	// --target aws: the instances' stand-ins are namespaces in the VPC's
	// 10.236.0.0/16, which replaces the plan's loopback zones.
	"TestApplyAWSCloudInit": "127.69.",
}

// ownRange is the test's prefix ("127.N.") from e2eRanges. The first call
// of a test takes the range for the rest of the test, across processes:
// other engineers' runs on this machine use the same table, and a second
// run of the same test waits for the first instead of colliding with it.
// Call it before registering cleanups that need the range (a destroy).
func ownRange(t testing.TB) string {
	t.Helper()
	prefix, ok := e2eRanges[t.Name()]
	if !ok {
		t.Fatalf("%s has no loopback range: add it to e2eRanges (e2e_test.go)", t.Name())
	}
	for name, p := range e2eRanges {
		if p == prefix && name != t.Name() {
			t.Fatalf("%s and %s share the loopback range %s0.0/16 in e2eRanges", t.Name(), name, prefix)
		}
	}
	if _, held := heldRanges.LoadOrStore(t.Name(), true); !held {
		lockRange(t, prefix)
	}
	return prefix
}

// heldRanges are the tests (by name) of this process holding their range.
var heldRanges sync.Map

// lockRange holds an exclusive lock on /tmp/crmplan-e2e-range-PREFIX.lock
// until the test's cleanups are done (the lock's cleanup is registered
// before the ones that destroy the stack, so it runs after them). The
// kernel drops the lock when the process dies.
func lockRange(t testing.TB, prefix string) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "crmplan-e2e-range-"+prefix+"lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("loopback range %s0.0/16 is in use by another test run (%s): waiting for it", prefix, path)
		start := time.Now()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			t.Fatalf("lock %s: %v", path, err)
		}
		t.Logf("waited %.0fs for loopback range %s0.0/16", time.Since(start).Seconds(), prefix)
	}
	t.Cleanup(func() {
		heldRanges.Delete(t.Name())
		f.Close() // releases the lock
	})
}

// examplePlan writes a copy of examples/NAME.yaml on the test's own range.
func examplePlan(t testing.TB, name string) string {
	t.Helper()
	return rewritePlan(t, filepath.Join("..", "..", "examples", name+".yaml"), "127.10.", ownRange(t))
}

// e2eBin holds crmplan, crmplan-host and crm built once for the whole
// run: every end-to-end test runs the same binaries (linking crmplan takes about
// 10 s of CPU). TestMain removes them.
var e2eBin struct {
	once sync.Once
	dir  string
	err  error
}

// buildBinaries returns the directory of crmplan, crmplan-host and crm
// built from this tree, building them on the first call.
func buildBinaries(t testing.TB) string {
	t.Helper()
	e2eBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "crmplan-e2e-bin-")
		if err != nil {
			e2eBin.err = err
			return
		}
		e2eBin.dir = dir
		for _, pkg := range []string{"./cmd/crmplan", "./cmd/crmplan-host", "./cmd/crm"} {
			cmd := exec.Command("go", "build", "-o", dir+"/", pkg)
			cmd.Dir = "../.."
			if out, err := cmd.CombinedOutput(); err != nil {
				e2eBin.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if e2eBin.err != nil {
		t.Fatal(e2eBin.err)
	}
	return e2eBin.dir
}

func TestMain(m *testing.M) {
	m.Run()
	if e2eBin.dir != "" {
		_ = os.RemoveAll(e2eBin.dir)
	}
}
