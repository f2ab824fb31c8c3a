package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestPlanFromEndlessFiles gives --plan files that never end: /dev/zero and
// a FIFO whose writer keeps writing. Both are refused as too large after one
// MiB, with the file named, instead of being read until memory runs out.
func TestPlanFromEndlessFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "plan.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			wrote <- err
			return
		}
		defer w.Close()
		line := []byte("# a comment that never ends " + strings.Repeat("x", 4000) + "\n")
		for {
			if _, err := w.Write(line); err != nil {
				wrote <- err // EPIPE once crmplan stops reading and closes
				return
			}
		}
	}()
	for _, path := range []string{"/dev/zero", fifo} {
		t.Run(path, func(t *testing.T) {
			code, _, stderr := crmplanRun(t, "size", "--plan", path)
			if code != exitUsage || !strings.Contains(stderr, path+": the plan file is larger than 1048576 bytes") || !strings.Contains(stderr, "Try: ") {
				t.Errorf("exit %d, stderr:\n%s", code, stderr)
			}
		})
	}
	if err := <-wrote; !errors.Is(err, syscall.EPIPE) {
		t.Errorf("the FIFO's writer stopped with %v, want EPIPE (crmplan closed it)", err)
	}
}

// TestPlanFromDevZeroMemory bounds what refusing --plan /dev/zero costs in
// memory (it ran out of memory, issue 19): reading 1 MiB + 1 byte through
// io.ReadAll allocates a few MiB as its buffer grows.
func TestPlanFromDevZeroMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readPlan("/dev/zero", "size")
	runtime.ReadMemStats(&after)
	if !strings.Contains(fmt.Sprint(err), "larger than 1048576 bytes") {
		t.Fatalf("err = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("refusing /dev/zero allocated %d bytes, want at most 8 MiB", n)
	}
}
