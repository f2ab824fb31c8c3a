package cpulease

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// held reports whether path is locked against how (LOCK_SH or LOCK_EX)
// for an open file of its own, as another process would see it.
func held(t *testing.T, path string, how int) bool {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

func TestWorkSharesMeasureExcludes(t *testing.T) {
	dir := t.TempDir()
	lockPath := filepath.Join(dir, "crmplan-cpu.lock")

	a, b := take(t, dir, false, 0), take(t, dir, false, 0) // would hang if work excluded work
	if !held(t, lockPath, syscall.LOCK_EX) || held(t, lockPath, syscall.LOCK_SH) {
		t.Fatal("two work leases: want the lock shared, open to more work, closed to a measurement")
	}
	a.Release()
	b.Release()
	b.Release() // a second release does nothing

	m := take(t, dir, true, 0)
	if !held(t, lockPath, syscall.LOCK_SH) {
		t.Fatal("a measurement holds the lock: work must not get a share of it")
	}
	m.Release()
	if held(t, lockPath, syscall.LOCK_EX) {
		t.Fatal("the released measurement still holds the lock")
	}
}

// TestMeasurementIsNotStarved: work that arrives while a measurement waits
// for running work waits behind the measurement, not beside the running
// work.
func TestMeasurementIsNotStarved(t *testing.T) {
	dir := t.TempDir()
	var (
		mu     sync.Mutex
		events []string
	)
	record := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	first := take(t, dir, false, 0)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		m := take(t, dir, true, 0)
		record("measured")
		m.Release()
	}()
	// Wait until the measurement holds the turnstile (it is then waiting
	// for the first work's share to go).
	turnstile := filepath.Join(dir, "crmplan-cpu.turnstile")
	for deadline := time.Now().Add(time.Minute); !held(t, turnstile, syscall.LOCK_EX); {
		if time.Now().After(deadline) {
			t.Fatal("the measurement never took the turnstile")
		}
		time.Sleep(5 * time.Millisecond)
	}
	go func() {
		defer wg.Done()
		w := take(t, dir, false, 0)
		record("later work")
		w.Release()
	}()
	record("first work done")
	first.Release()
	wg.Wait()

	want := []string{"first work done", "measured", "later work"}
	if len(events) != len(want) {
		t.Fatalf("events %q, want %q", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events %q, want %q", events, want)
		}
	}
}

// TestSettle: a machine quieter than asked is measured at once; one never
// quiet enough (below zero cores) is measured anyway once max has passed.
func TestSettle(t *testing.T) {
	settle(t, 1e6, time.Hour)
	settle(t, -1, 0)
}

// runFunc is a package's tests as Package runs them.
type runFunc func() int

func (r runFunc) Run() int { return r() }

// TestPackage: a package run under Package holds a share for the whole of
// it (a measurement elsewhere waits, other work does not), its tests'
// Work is a no-op inside, and the share is given back with the run's code.
func TestPackage(t *testing.T) {
	dir := t.TempDir()
	lockPath := filepath.Join(dir, "crmplan-cpu.lock")
	code := runPackage(runFunc(func() int {
		if !held(t, lockPath, syscall.LOCK_EX) || held(t, lockPath, syscall.LOCK_SH) {
			t.Error("under Package: want the lock shared, closed to a measurement, open to work")
		}
		w := take(t, dir, false, 0) // would wait forever behind a measurement if it took the turnstile
		w.Release()
		return 7
	}), dir)
	if code != 7 {
		t.Errorf("Package returned %d, want the run's 7", code)
	}
	if held(t, lockPath, syscall.LOCK_EX) {
		t.Error("the package's share is still held after its run")
	}
	if packageHeld.Load() {
		t.Error("still marked as under Package after the run")
	}
}
