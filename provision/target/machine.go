package target

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of /proc/stat's times: Linux fixes it at 100 for
// user space on every architecture crmplan runs on.
const userHZ = 100

// MachineBusy is the CPU seconds every process of this machine has used
// since boot, summed over its cores: /proc/stat's first line, every column
// but idle and iowait. Verify reads it twice around a window; what the
// stack's hosts and the load generator did not use of the difference is
// the other processes' (a shared machine's builds and tests), whose cores
// the stack cannot have.
func MachineBusy() (float64, error) {
	return readMachineBusy("/proc/stat")
}

func readMachineBusy(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, fmt.Errorf("%s: empty", path)
	}
	fields := strings.Fields(sc.Text())
	// cpu user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is counted in user already.
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, fmt.Errorf("%s: first line %q is not the cpu total", path, sc.Text())
	}
	var busy int64
	for i, v := range fields[1:] {
		if i >= 8 {
			break // guest, guest_nice: already in user, nice
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		if i == 3 || i == 4 {
			continue // idle, iowait
		}
		busy += n
	}
	return float64(busy) / userHZ, nil
}
