package target

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReadMachineBusy(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice:
		// guest (in user already) and idle, iowait are left out.
		{"linux", "cpu  1000 20 300 90000 500 7 3 0 400 0\ncpu0 500 10 150 45000 250 3 1 0 200 0\n", 13.30, false},
		{"old kernel, eight columns", "cpu 100 0 100 5000 0 0 0 0\n", 2, false},
		{"not the total", "cpu0 1 2 3 4 5 6 7 8\n", 0, true},
		{"too short", "cpu 1 2 3\n", 0, true},
		{"not a number", "cpu 1 2 x 4 5 6 7 8\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.stat), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readMachineBusy(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (got < tt.want-1e-9 || got > tt.want+1e-9) {
				t.Errorf("got %v s, want %v", got, tt.want)
			}
		})
	}
}

// This machine's busy time grows while a goroutine spins, by about the
// CPU it burned (other processes can only add to it).
func TestMachineBusyGrows(t *testing.T) {
	before, err := MachineBusy()
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := MachineBusy()
	if err != nil {
		t.Fatal(err)
	}
	if !(after-before >= 0.1) {
		t.Errorf("busy grew %v s over 0.3 s of spinning", after-before)
	}
}
