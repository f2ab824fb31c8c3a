// Package cpulease shares this machine's cores between the end-to-end tests
// that `go test ./...` runs side by side: two packages' test binaries at a
// time, and in each of them t.Parallel tests, every one with a stack of its
// own.
//
// A test that measures (k6 at a target rate judged against an SLO, a
// handover under load) is only as good as the cores it gets: on a 2-core
// machine whose memory is slow to fault in, another stack's apply (Pulumi,
// initdb, seeding) or another test's load took 1-1.5 of the 2 cores from
// the measurement, and the suite failed on latency and rate that no fault
// of the code caused. So a measurement holds the machine alone (Measure),
// while heavy work that is not measured (an apply, a destroy, bringing a
// test rig up) takes a share of it (Work): any number of those at once, but
// none while a measurement runs.
//
// The leases are flock(2) locks on two files in the temporary directory,
// so they hold across processes (and across runs on the same machine), and
// the kernel drops them when a process dies. A measurement waiting for the
// machine holds the turnstile, so work that comes after it waits too: the
// measurements are not starved by a stream of applies.
//
// Not every test takes a lease (a unit test starting PostgreSQL, a package
// compiling): having the lease, a measurement also waits, up to settleMax,
// for the machine to quieten below quietShare of its cores.
//
// A lease must not be taken while the same test holds another (a test that
// measures an apply under load takes Measure for the whole of it, and does
// not also take Work for the apply): the second would wait for the first
// forever.
package cpulease

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/target"
)

// quietShare is the share of the machine's cores every process together may
// keep busy when a measurement starts: an idle stack or two (their health
// checks, the mesh) and nothing more. In the make test run that brought
// the leases, one measurement held them and still saw 1.4 of 2 cores
// taken, by tests that take none (PostgreSQL servers of the watchdog's
// tests) and by the tail of the apply before it.
const quietShare = 0.3

// settleMax bounds the wait for quiet: a machine that stays busy is
// measured anyway, and the test says so.
const settleMax = 2 * time.Minute

// Lease is a hold on the machine's cores, released by Release or, at the
// latest, by the test's cleanup.
type Lease struct {
	once sync.Once
	f    *os.File
	// alone leases log how long they held the machine when released: the
	// sum over a run is the part of make test that cannot overlap.
	tb    testing.TB
	alone bool
	since time.Time
}

// Measure waits until no other test holds a lease and returns the machine
// held for this test alone.
func Measure(tb testing.TB) *Lease { return take(tb, os.TempDir(), true, settleMax) }

// Work waits until no measurement holds or waits for the machine and
// returns a share of it, held beside other tests' work.
func Work(tb testing.TB) *Lease { return take(tb, os.TempDir(), false, 0) }

// Release gives the machine back; later calls do nothing.
func (l *Lease) Release() {
	l.once.Do(func() {
		if l.f == nil {
			return // Work under Package: nothing of its own to give back
		}
		l.f.Close() // closing drops the flock
		if l.alone {
			l.tb.Logf("cpulease: held the machine alone for %.0fs", time.Since(l.since).Seconds())
		}
	})
}

// Package runs a package's tests (m.Run) holding a share of the machine
// for the whole run, and returns m.Run's code for os.Exit: for packages
// whose tests start heavy processes of their own (k6, PostgreSQL servers,
// Chromium) and measure nothing, so that none of it runs beside another
// package's measurement (a verify failed its SLO with loadgen's k6 tests
// taking a core from it). Inside, Work is a no-op and Measure fails the
// test: either would wait for this very lease.
func Package(m interface{ Run() int }) int { return runPackage(m, os.TempDir()) }

func runPackage(m interface{ Run() int }, dir string) int {
	start := time.Now()
	f, err := acquire(dir, false)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpulease: %v: running without a share of the machine\n", err)
		return m.Run()
	}
	if waited := time.Since(start); waited > 2*time.Second {
		fmt.Fprintf(os.Stderr, "cpulease: waited %.0fs for a share of the machine's cores for the package's tests\n", waited.Seconds())
	}
	packageHeld.Store(true)
	defer func() {
		packageHeld.Store(false)
		f.Close()
	}()
	return m.Run()
}

// packageHeld is set in a test process that runs under Package.
var packageHeld atomic.Bool

// take is Measure (alone) or Work in dir. A measurement then waits up to
// quietWithin for the machine to quieten; the lock's own tests pass 0, as
// their leases guard nothing.
func take(tb testing.TB, dir string, alone bool, quietWithin time.Duration) *Lease {
	tb.Helper()
	if packageHeld.Load() {
		if alone {
			tb.Fatal("cpulease: Measure in a package run under cpulease.Package would wait for the package's own share: take Work per test there instead")
		}
		return &Lease{f: nil}
	}
	start := time.Now()
	f, err := acquire(dir, alone)
	if err != nil {
		tb.Fatalf("cpulease: %v", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		what := "a share of the machine's cores (a measurement held them)"
		if alone {
			what = "the machine's cores to measure alone (other tests held them)"
		}
		tb.Logf("cpulease: waited %.0fs for %s", waited.Seconds(), what)
	}
	l := &Lease{f: f, tb: tb, alone: alone, since: time.Now()}
	tb.Cleanup(l.Release)
	if alone && quietWithin > 0 {
		settle(tb, quietShare*float64(runtime.NumCPU()), quietWithin)
	}
	return l
}

// settle waits until the machine's processes keep fewer than quiet cores
// busy over a second, or max has passed.
func settle(tb testing.TB, quiet float64, max time.Duration) {
	tb.Helper()
	start := time.Now()
	last, err := target.MachineBusy()
	for err == nil {
		time.Sleep(time.Second)
		var now float64
		if now, err = target.MachineBusy(); err != nil {
			break
		}
		busy, waited := now-last, time.Since(start)
		last = now
		switch {
		case busy < quiet && waited > 2*time.Second:
			tb.Logf("cpulease: the machine quietened to %.2f cores busy in %.0fs", busy, waited.Seconds())
			return
		case busy < quiet:
			return
		case waited > max:
			tb.Logf("cpulease: the machine stayed at %.2f cores busy for %.0fs (tests that take no lease): measuring anyway", busy, waited.Seconds())
			return
		}
	}
	tb.Logf("cpulease: %v: measuring without waiting for quiet", err)
}

// acquire waits for the lock file in dir, exclusive (alone) or shared,
// passing the turnstile first: a measurement waiting for the lock holds
// the turnstile, which keeps new work out until it has measured.
func acquire(dir string, alone bool) (*os.File, error) {
	turnstile, err := os.OpenFile(filepath.Join(dir, "crmplan-cpu.turnstile"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	defer turnstile.Close()
	if err := flock(turnstile, syscall.LOCK_EX); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "crmplan-cpu.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if alone {
		how = syscall.LOCK_EX
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// flock is flock(2) on f, again when a signal interrupted it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			if err != nil {
				return fmt.Errorf("flock %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}
