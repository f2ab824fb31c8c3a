package stackdir

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/crmplan/crmplan"
)

func TestProbeSaveLoad(t *testing.T) {
	saved := ProbeResult{Stack: "s1", Target: "netns", MeasuredAt: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC), Ports: []int{5432, 8080},
		Cells: []ProbeCell{{From: "web-1", To: "api-1", Port: 8080, Planned: true, Measured: "open", Reached: true, Match: true},
			{From: "web-1", To: "db-primary-1", Port: 5432, Measured: "open", Reached: true}}, Differences: 1}
	tests := []struct {
		name     string
		setup    func(t *testing.T, state string)
		want     ProbeResult
		wantCode string
	}{
		{"never probed", func(*testing.T, string) {}, ProbeResult{}, crmplan.ENOTFOUND},
		{"saved", func(t *testing.T, state string) {
			if err := SaveProbe(state, saved); err != nil {
				t.Fatal(err)
			}
		}, saved, ""},
		{"saved twice keeps the last", func(t *testing.T, state string) {
			first := saved
			first.Differences = 7
			for _, r := range []ProbeResult{first, saved} {
				if err := SaveProbe(state, r); err != nil {
					t.Fatal(err)
				}
			}
		}, saved, ""},
		{"damaged", func(t *testing.T, state string) {
			p := Paths{StateDir: state, Stack: "s1"}
			if err := os.MkdirAll(p.StackDir(), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p.ProbeResult(), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ProbeResult{}, crmplan.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			tt.setup(t, state)
			got, err := LoadProbe(state, "s1")
			if code := crmplan.ErrorCode(err); err != nil && code != tt.wantCode || err == nil && tt.wantCode != "" {
				t.Fatalf("LoadProbe error = %v (%s), want code %q", err, code, tt.wantCode)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadProbe = %+v, want %+v", got, tt.want)
			}
			if tt.wantCode == "" {
				fi, err := os.Stat(Paths{StateDir: state, Stack: "s1"}.ProbeResult())
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("probe.json mode = %v (%v), want 0600", fi.Mode().Perm(), err)
				}
			}
		})
	}
}
