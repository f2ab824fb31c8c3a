package sizing

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/crmplan/crmplan"
)

func TestSweepMatchesSize(t *testing.T) {
	tests := []struct {
		axis           string
		from, to, step float64
		wantValues     []float64
		set            func(*Model, float64)
	}{
		{AxisNamedUsers, 1000, 30000, 1000, nil, func(m *Model, v float64) { m.Workload.NamedUsers = int(v) }},
		{AxisConcurrency, 0.2, 1, 0.2, []float64{0.2, 0.4, 0.6000000000000001, 0.8, 1}, func(m *Model, v float64) { m.Workload.Concurrency = v }},
		{AxisTPM, 1, 10, 3, []float64{1, 4, 7, 10}, func(m *Model, v float64) { m.Workload.TPM = v }},
	}
	for _, tt := range tests {
		t.Run(tt.axis, func(t *testing.T) {
			points, err := Sweep(seed000(), tt.axis, tt.from, tt.to, tt.step)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantValues != nil {
				var got []float64
				for _, p := range points {
					got = append(got, p.Value)
				}
				if !reflect.DeepEqual(got, tt.wantValues) {
					t.Errorf("values = %v, want %v", got, tt.wantValues)
				}
			} else if n := int((tt.to-tt.from)/tt.step) + 1; len(points) != n {
				t.Errorf("%d points, want %d", len(points), n)
			}
			for _, p := range points {
				m := seed000()
				tt.set(&m, p.Value)
				e := mustSize(t, m)
				for i := range e.Tiers {
					e.Tiers[i].Detail = ""
				}
				// A sweep starts each point's solvers from its neighbour's
				// answer, Size from scratch: they agree to the solvers'
				// tolerances, not bit for bit.
				if p.Workload != e.Workload || p.MeetsSLO != e.MeetsSLO || p.Model != e.Model.Name ||
					!near(p.EndToEnd.MeanMs, e.EndToEnd.MeanMs, 1e-6) || !near(p.EndToEnd.P95Ms, e.EndToEnd.P95Ms, 1e-6) ||
					p.EndToEnd.ByClass != nil || len(p.Tiers) != len(e.Tiers) {
					t.Fatalf("point %v differs from Size:\n%+v\n%+v", p.Value, p, e)
				}
				for i, pt := range p.Tiers {
					et := e.Tiers[i]
					if pt.Servers != et.Servers || pt.Cores != et.Cores || pt.Reason != et.Reason || pt.Overloaded != et.Overloaded ||
						!near(pt.Utilization, et.Utilization, 1e-6) || !near(pt.PredictedMeanMs, et.PredictedMeanMs, 1e-6) ||
						!near(pt.PredictedP95Ms, et.PredictedP95Ms, 1e-6) || !near(pt.ArrivalRate, et.ArrivalRate, 1e-6) {
						t.Fatalf("point %v tier %s differs from Size:\n%+v\n%+v", p.Value, pt.Role, pt, et)
					}
				}
			}
		})
	}
}

func TestSweepInvalid(t *testing.T) {
	tests := []struct {
		name           string
		axis           string
		from, to, step float64
		wantField      string
	}{
		{"unknown axis", "records", 1, 2, 1, "sweep"},
		{"zero step", AxisNamedUsers, 1000, 2000, 0, "sweep"},
		{"negative step", AxisNamedUsers, 1000, 2000, -5, "sweep"},
		{"backwards", AxisNamedUsers, 2000, 1000, 100, "sweep"},
		{"NaN", AxisTPM, math.NaN(), 10, 1, "sweep"},
		{"too many points", AxisNamedUsers, 1, 1e9, 1, "sweep"},
		{"concurrency past 100 %", AxisConcurrency, 0.5, 1.5, 0.25, "workload.concurrency"},
		{"users down to zero", AxisNamedUsers, 0, 100, 50, "workload.named_users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sweep(seed000(), tt.axis, tt.from, tt.to, tt.step)
			var ce *crmplan.Error
			if !errors.As(err, &ce) || ce.Code != crmplan.EINVALID || ce.Field != tt.wantField || ce.Hint == "" {
				t.Errorf("err = %#v, want EINVALID at %q with a hint", err, tt.wantField)
			}
		})
	}
}

func TestProject(t *testing.T) {
	m := seed000()
	m.Workload.Growth, m.Workload.Years = 0.5, 4
	years, err := Project(m)
	if err != nil {
		t.Fatal(err)
	}
	wantUsers := []int{3000, 4500, 6750, 10125, 15188}
	if len(years) != len(wantUsers) {
		t.Fatalf("%d years, want %d", len(years), len(wantUsers))
	}
	for i, y := range years {
		if y.Year != i || y.NamedUsers != wantUsers[i] {
			t.Errorf("year %d: %d named users, want %d", y.Year, y.NamedUsers, wantUsers[i])
		}
		if want := float64(wantUsers[i]) * 0.6 * 5 / 60; !near(y.RequestsPerSecond, want, 1e-12) {
			t.Errorf("year %d: %v req/s, want %v", i, y.RequestsPerSecond, want)
		}
		if i > 0 {
			for role, n := range years[i-1].Servers {
				if y.Servers[role] < n {
					t.Errorf("year %d: %s fell from %d to %d servers", i, role, n, y.Servers[role])
				}
			}
		}
	}
	// Year 0 is today's load: the same counts as sizing without growth.
	today := mustSize(t, seed000())
	for _, te := range today.Tiers {
		if years[0].Servers[te.Role] != te.Servers {
			t.Errorf("year 0 %s: %d servers, Size says %d", te.Role, years[0].Servers[te.Role], te.Servers)
		}
	}
	// 15,188 users need more app servers than 3,000: the projection shows when.
	if years[4].Servers["api"] <= years[0].Servers["api"] {
		t.Errorf("api servers %d in year 4, %d today; growth should need more", years[4].Servers["api"], years[0].Servers["api"])
	}
}

func TestQuantileStart(t *testing.T) {
	tests := []struct {
		name    string
		answers []float64
		want    float64
	}{
		{"first point: cold", nil, 0.5},
		{"one answer: from it", []float64{0.010}, 0.010},
		{"two close answers: the line through them", []float64{0.010, 0.010001}, 0.010002},
		{"a jump: the last answer", []float64{0.012, 0.010}, 0.010},
		{"no path had a hop: cold again", []float64{0.010, 0}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q quantileStart
			for _, a := range tt.answers {
				q.keep(a)
			}
			if got := q.next(0.5); !near(got, tt.want, 1e-12) {
				t.Errorf("next = %v, want %v", got, tt.want)
			}
		})
	}
}
