package loadgen

import (
	"os"
	"testing"

	k6cmd "go.k6.io/k6/cmd"

	"github.com/crmplan/crmplan/internal/cpulease"
	_ "github.com/crmplan/crmplan/loadgen/k6ext"
)

// envRunK6 makes the test binary act as k6 with the crmplan extension, the
// way `crmplan k6` does, so loadgen's tests run real k6 without building the
// crmplan binary first.
const envRunK6 = "CRMPLAN_LOADGEN_TEST_K6"

func TestMain(m *testing.M) {
	if os.Getenv(envRunK6) == "1" {
		os.Args = append([]string{"k6"}, os.Args[1:]...)
		k6cmd.Execute() // exits
	}
	// Its tests run k6 at hundreds of requests a second against fake
	// CRMs: heavy, never measured against an SLO of the machine's.
	os.Exit(cpulease.Package(m))
}

// testK6 runs this test binary as k6.
func testK6(t testing.TB) K6 {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return K6{Command: []string{exe}, Env: []string{envRunK6 + "=1"}}
}
