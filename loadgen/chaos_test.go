package loadgen

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseChaos(t *testing.T) {
	tests := []struct {
		name, spec string
		want       []Fault
		wantErr    string
	}{
		{"two faults, sorted", "kill:db-primary@60s, kill:app-1@30s", []Fault{
			{"kill", "app-1", 30 * time.Second}, {"kill", "db-primary", 60 * time.Second}}, ""},
		{"host name", "kill:api-2@1m30s", []Fault{{"kill", "api-2", 90 * time.Second}}, ""},
		{"unknown action", "pause:api-1@10s", nil, `unknown action "pause"`},
		{"no time", "kill:api-1", nil, "want kill:HOST@TIME"},
		{"bad time", "kill:api-1@soon", nil, `time "soon" is not a duration`},
		{"negative time", "kill:api-1@-5s", nil, "is not a duration"},
		{"after the run", "kill:api-1@3m", nil, "the measured phase (2m0s) is over"},
		{"no action", "api-1@10s", nil, "want ACTION:HOST@TIME"},
		{"odd host", "kill:API_1@10s", nil, "with a host name like api-1"},
		{"empty", " , ", nil, "no faults"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChaos(tt.spec, 2*time.Minute)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseChaos = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// series builds one request per 100 ms from 0 to secs seconds; failing(t)
// says whether the request at t seconds failed.
func series(secs float64, failing func(t float64) bool) []sample {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var out []sample
	for i := 0; float64(i)/10 < secs; i++ {
		at := float64(i) / 10
		s := sample{at: start.Add(time.Duration(at * float64(time.Second))), class: "view", method: "GET"}
		if i%3 == 0 {
			s.class, s.method = "write", "POST"
		}
		s.failed = failing(at)
		out = append(out, s)
	}
	return out
}

func injectedAt(secs ...float64) []Injected {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var out []Injected
	for i, s := range secs {
		out = append(out, Injected{Fault: Fault{"kill", fmt.Sprintf("h%d", i), 0}, Host: fmt.Sprintf("h%d", i),
			At: start.Add(time.Duration(s * float64(time.Second)))})
	}
	return out
}

func TestAvailability(t *testing.T) {
	tests := []struct {
		name        string
		reqs        []sample
		faults      []Injected
		wantRTO     []float64
		wantRecov   []bool
		wantSeconds [][]int
		wantFailed  int64 // over the timeline
		wantOutside int64 // before the first fault
	}{
		{
			name:        "a fault nothing noticed",
			reqs:        series(10, func(float64) bool { return false }),
			faults:      injectedAt(3.5),
			wantRTO:     []float64{0},
			wantRecov:   []bool{true},
			wantSeconds: [][]int{nil},
		},
		{
			name:        "writes fail for two seconds, then recover",
			reqs:        series(10, func(t float64) bool { return t >= 4.0 && t < 6.0 }),
			faults:      injectedAt(3.9),
			wantRTO:     []float64{6 - 3.9},
			wantRecov:   []bool{true},
			wantSeconds: [][]int{{4, 5}},
			wantFailed:  20,
		},
		{
			name:        "failing to the end: not recovered",
			reqs:        series(10, func(t float64) bool { return t >= 7 }),
			faults:      injectedAt(6.5),
			wantRTO:     []float64{10 - 6.5},
			wantRecov:   []bool{false},
			wantSeconds: [][]int{{7, 8, 9}},
			wantFailed:  30,
		},
		{
			name:        "two faults split the failures between them",
			reqs:        series(12, func(t float64) bool { return (t >= 2 && t < 3) || (t >= 8 && t < 9.5) }),
			faults:      injectedAt(1.5, 7.5),
			wantRTO:     []float64{1.5, 10 - 7.5},
			wantRecov:   []bool{true, true},
			wantSeconds: [][]int{{2}, {8, 9}},
			wantFailed:  25,
		},
		{
			name:        "failures before the fault are outside its window",
			reqs:        series(10, func(t float64) bool { return (t >= 1 && t < 2) || (t >= 5 && t < 6) }),
			faults:      injectedAt(4.5),
			wantRTO:     []float64{6 - 4.5},
			wantRecov:   []bool{true},
			wantSeconds: [][]int{{5}},
			wantFailed:  20,
			wantOutside: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := availability(tt.reqs, tt.faults)
			var failed int64
			for _, s := range a.Timeline {
				failed += s.Failed
			}
			if failed != tt.wantFailed {
				t.Errorf("timeline failures = %d, want %d", failed, tt.wantFailed)
			}
			if a.FailedOutside != tt.wantOutside || a.FailedInFaults != tt.wantFailed-tt.wantOutside {
				t.Errorf("failed outside fault windows %d, inside %d: want %d and %d",
					a.FailedOutside, a.FailedInFaults, tt.wantOutside, tt.wantFailed-tt.wantOutside)
			}
			for i, f := range a.Faults {
				if diff := f.RTOS - tt.wantRTO[i]; diff > 1e-9 || diff < -1e-9 {
					t.Errorf("fault %d: RTO %.3f s, want %.3f", i, f.RTOS, tt.wantRTO[i])
				}
				if f.Recovered != tt.wantRecov[i] {
					t.Errorf("fault %d: recovered %v, want %v", i, f.Recovered, tt.wantRecov[i])
				}
				if !reflect.DeepEqual(f.FailedSeconds, tt.wantSeconds[i]) {
					t.Errorf("fault %d: failing seconds %v, want %v", i, f.FailedSeconds, tt.wantSeconds[i])
				}
			}
		})
	}
}

// TestAttributeLost: a lost write belongs to the first fault at or after
// its acknowledgement; one acknowledged after the last fault to none.
func TestAttributeLost(t *testing.T) {
	faults := injectedAt(3, 6)
	reqs := series(9, func(float64) bool { return false })
	for i := range reqs {
		reqs[i].ledger = fmt.Sprintf("k%d", i)
	}
	// k10 at 1.0 s and k29 at 2.9 s before the first fault, k45 at 4.5 s
	// before the second, k80 at 8.0 s after both; k11 was never lost.
	a := availability(reqs, faults)
	attributeLost(&a, reqs, faults, []string{"k10", "k29", "k45", "k80"})
	if got := []int{a.Faults[0].LostWrites, a.Faults[1].LostWrites}; !reflect.DeepEqual(got, []int{2, 1}) {
		t.Errorf("lost writes per fault = %v, want [2 1]", got)
	}
}

func TestAckedKeysAndSecondsText(t *testing.T) {
	reqs := []sample{{ledger: "lt-r-1-2"}, {ledger: "lt-r-1-1"}, {ledger: "lt-r-2-1", failed: true}, {}}
	if got := ackedKeys(reqs); !reflect.DeepEqual(got, []string{"lt-r-1-1", "lt-r-1-2"}) {
		t.Errorf("ackedKeys = %v: want the two acknowledged creates, sorted", got)
	}
	if got := SecondsText([]int{3, 4, 5, 9, 11, 12}); got != "3-5, 9, 11-12" {
		t.Errorf("SecondsText = %q", got)
	}
}
