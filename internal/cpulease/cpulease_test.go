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

	a, b := take(t, dir, false), take(t, dir, false) // would hang if work excluded work
	if !held(t, lockPath, syscall.LOCK_EX) || held(t, lockPath, syscall.LOCK_SH) {
		t.Fatal("two work leases: want the lock shared, open to more work, closed to a measurement")
	}
	a.Release()
	b.Release()
	b.Release() // a second release does nothing

	m := take(t, dir, true)
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
	first := take(t, dir, false)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		m := take(t, dir, true)
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
		w := take(t, dir, false)
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
