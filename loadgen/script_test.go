package loadgen

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got ---\n%s", path, got)
	}
}

// TestScriptGolden pins the script for the seed 000 workload: 150 req/s, the
// default mix and SLO, 15 s ramp-up, 2 minutes.
func TestScriptGolden(t *testing.T) {
	s := Scenario{Rate: 150, RampUp: 15 * time.Second, Duration: 2 * time.Minute,
		Mix: sizing.DefaultMix(), SLO: sizing.DefaultSLO()}
	got, err := Script(s)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "simplecrm.js", got)
}

func TestScriptOptions(t *testing.T) {
	base := Scenario{Rate: 150, Duration: 2 * time.Minute, Mix: sizing.DefaultMix(), SLO: sizing.DefaultSLO()}
	tests := []struct {
		name    string
		edit    func(*Scenario)
		want    []string // fragments the script must contain
		notWant []string
	}{
		{"whole rate per second", func(*Scenario) {}, []string{`rate: 150,`, `timeUnit: "1s"`, `duration: "2m"`}, []string{"rampup:"}},
		{"fractional rate per minute", func(s *Scenario) { s.Rate = 2.5 }, []string{`rate: 150,`, `timeUnit: "1m"`}, nil},
		{"ramp-up starts the steady phase later", func(s *Scenario) { s.RampUp = 20 * time.Second },
			[]string{`ramping-arrival-rate`, `stages: [{ target: 150, duration: "20s" }]`, `startTime: "20s"`}, nil},
		{"SLO thresholds", func(s *Scenario) { s.SLO = sizing.SLO{P95Ms: 250, ErrorRate: 0.005} },
			[]string{`"http_req_duration{scenario:steady}": ["p(95)<250"]`, `"http_req_failed{scenario:steady}": ["rate<0.005"]`}, nil},
		{"mix without a class", func(s *Scenario) { s.Mix = sizing.Mix{sizing.ClassList: 1, sizing.ClassReport: 0} },
			[]string{`const MIX = {"list":1};`}, nil},
		{"odd duration", func(s *Scenario) { s.Duration = 90 * time.Second }, []string{`duration: "1m30s"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.edit(&s)
			got, err := Script(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("script lacks %s", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(string(got), w) {
					t.Errorf("script has %s", w)
				}
			}
		})
	}
}

func TestScenarioValidate(t *testing.T) {
	good := Scenario{Rate: 150, Duration: time.Minute, Mix: sizing.DefaultMix(), SLO: sizing.DefaultSLO()}
	tests := []struct {
		name      string
		edit      func(*Scenario)
		wantField string // "" for valid
	}{
		{"valid", func(*Scenario) {}, ""},
		{"zero rate", func(s *Scenario) { s.Rate = 0 }, "--rate"},
		{"negative rate", func(s *Scenario) { s.Rate = -1 }, "--rate"},
		{"short duration", func(s *Scenario) { s.Duration = 10 * time.Millisecond }, "--duration"},
		{"negative ramp-up", func(s *Scenario) { s.RampUp = -time.Second }, "--ramp-up"},
		{"no p95", func(s *Scenario) { s.SLO.P95Ms = 0 }, "slo.p95_ms"},
		{"error rate above 1", func(s *Scenario) { s.SLO.ErrorRate = 2 }, "slo.error_rate"},
		{"empty mix", func(s *Scenario) { s.Mix = sizing.Mix{} }, "workload.mix"},
		{"unknown class", func(s *Scenario) { s.Mix = sizing.Mix{"browse": 1} }, "workload.mix"},
		{"negative share", func(s *Scenario) { s.Mix = sizing.Mix{sizing.ClassList: -1, sizing.ClassView: 2} }, "workload.mix.list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			err := s.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *crmplan.Error
			if !asError(err, &e) || e.Code != crmplan.EINVALID || e.Field != tt.wantField {
				t.Fatalf("err = %#v, want EINVALID in %s", err, tt.wantField)
			}
		})
	}
}

func TestVUPoolCoversLittlesLaw(t *testing.T) {
	for _, rate := range []float64{1, 10, 150, 1000} {
		pre, maxVUs := vuPool(rate, 500)
		if float64(pre) < rate*0.5 || maxVUs < pre || float64(maxVUs) < rate*2 {
			t.Errorf("rate %g: pool %d..%d too small for 0.5 s responses (R*W = %g)", rate, pre, maxVUs, rate*0.5)
		}
	}
}
