package sizing

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

func TestPredictAt(t *testing.T) {
	seed := seed000()
	est := mustSize(t, seed)
	design := est.Workload.DesignRate
	big := seed000()
	big.Workload.NamedUsers = 40_000 // the primary scales up to more cores
	bigEst := mustSize(t, big)
	peak2 := seed000()
	peak2.Workload.PeakFactor = 2
	peak2Est := mustSize(t, peak2)
	tests := []struct {
		name       string
		m          Model
		est        Estimate
		rate       float64
		wantScale  float64 // utilization at rate over utilization at the design rate
		overloaded bool    // some tier is past 100 %
	}{
		{"at the design rate", seed, est, design, 1, false},
		{"at three times", seed, est, 3 * design, 3, false},
		{"past the first saturation", seed, est, 1.01 * est.SaturationRate(), 1.01 * est.SaturationRate() / design, true},
		{"scaled-up cores are kept", big, bigEst, 1.5 * bigEst.Workload.DesignRate, 1.5, false},
		{"below the design rate of a peak", peak2, peak2Est, design, 0.5, false},
		// A load test that achieved a little less than the plan's rate, or
		// far more than any peak factor a plan may state.
		{"below the design rate without a peak", seed, est, 0.999 * design, 0.999, false},
		{"far past the largest peak factor", seed, est, design * (maxPeakFactor + 1), maxPeakFactor + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, err := PredictAt(tt.m, tt.est, tt.rate)
			if err != nil {
				t.Fatal(err)
			}
			if !near(at.Workload.DesignRate, tt.rate, 1e-9) {
				t.Errorf("design rate %v, want the test's rate %v", at.Workload.DesignRate, tt.rate)
			}
			if at.Workload.NamedUsers != tt.est.Workload.NamedUsers {
				t.Errorf("named users %d, want the plan's %d", at.Workload.NamedUsers, tt.est.Workload.NamedUsers)
			}
			overloaded := false
			for i, te := range at.Tiers {
				want := tt.est.Tiers[i]
				if te.Servers != want.Servers || te.Cores != want.Cores {
					t.Errorf("%s: %d x %d cores, want the deployed %d x %d", te.Role, te.Servers, te.Cores, want.Servers, want.Cores)
				}
				if !near(te.Utilization, want.Utilization*tt.wantScale, 0.01) {
					t.Errorf("%s: utilization %v, want %v", te.Role, te.Utilization, want.Utilization*tt.wantScale)
				}
				overloaded = overloaded || te.Overloaded
			}
			if overloaded != tt.overloaded || at.EndToEnd.Unbounded != tt.overloaded {
				t.Errorf("overloaded %v, end to end %+v; want overloaded %v", overloaded, at.EndToEnd, tt.overloaded)
			}
			if at.Model.Name != ModelOpen {
				t.Errorf("model %q, want %q: k6's arrivals are open", at.Model.Name, ModelOpen)
			}
			// Size answers with the closed model, whose users also wait for
			// their responses: at seed 000's 12 s think time it is within a
			// few per cent of the open model at the same rate.
			if tt.wantScale == 1 && !near(at.EndToEnd.MeanMs, tt.est.EndToEnd.MeanMs, 0.05) {
				t.Errorf("at the design rate the end to end is %+v, want near Size's %+v", at.EndToEnd, tt.est.EndToEnd)
			}
		})
	}
}

func TestPredictAtInvalid(t *testing.T) {
	est := mustSize(t, seed000())
	tests := []struct {
		name      string
		est       Estimate
		rate      float64
		wantField string
	}{
		{"zero rate", est, 0, "rate"},
		{"negative rate", est, -1, "rate"},
		{"NaN rate", est, math.NaN(), "rate"},
		{"infinite rate", est, math.Inf(1), "rate"},
		{"no design rate", Estimate{}, 150, "estimate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PredictAt(seed000(), tt.est, tt.rate)
			var e *crmplan.Error
			if !errors.As(err, &e) || e.Code != crmplan.EINVALID || e.Field != tt.wantField {
				t.Errorf("error %v, want EINVALID at %s", err, tt.wantField)
			}
		})
	}
}

func TestSaturationRate(t *testing.T) {
	tests := []struct {
		name  string
		tiers []TierEstimate
		want  float64
	}{
		{"no tiers", nil, 0},
		{"no tier with demand", []TierEstimate{{Role: "etl"}}, 0},
		{"the lowest wins", []TierEstimate{{Role: "web", SaturationRate: 900}, {Role: "etl"}, {Role: "api", SaturationRate: 320}}, 320},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Estimate{Tiers: tt.tiers}).SaturationRate(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// PredictHere on two shared cores, checked by hand: seed 000's path costs
// 0.86 + 12.25 + 2.3 + 2.35 + 3 = 20.76 ms a request (the primary's and
// the replica's demands as split by the reads the replica serves, and
// the ESB's integration demand, mix-weighted), plus the generator's
// 0.6 ms: 21.36 ms, so two cores saturate at 2/0.02136 = 93.6 req/s,
// and at 46.8 req/s they are 50 % busy.
func TestPredictHere(t *testing.T) {
	m := seed000()
	est := mustSize(t, m)
	here := Here{Cores: 2, GeneratorMs: 0.6}
	sat := 2 / 0.02136
	at, err := PredictHere(m, est, sat/2, here)
	if err != nil {
		t.Fatal(err)
	}
	if at.Model.Name != ModelHere || at.Model.Why == "" || !near(at.SaturationRate(), sat, 1e-9) {
		t.Errorf("model %+v, saturation %v; want %v", at.Model, at.SaturationRate(), sat)
	}
	prod, err := PredictAt(m, est, est.Workload.DesignRate)
	if err != nil {
		t.Fatal(err)
	}
	for i, te := range at.Tiers {
		// The utilization law with the plan's cores, as verify measures it.
		want := prod.Tiers[i].Utilization * (sat / 2) / est.Workload.DesignRate
		if !near(te.Utilization, want, 1e-9) {
			t.Errorf("%s utilization %v, want %v", te.Role, te.Utilization, want)
		}
		if te.ServiceDemandMs > 0 && !(te.PredictedMeanMs > te.ServiceDemandMs*0.99) {
			t.Errorf("%s mean %v below its service", te.Role, te.PredictedMeanMs)
		}
	}
	// Sharing two cores at 50 % queues more than the plan's 25 cores at
	// the same rate, and the whole path's p95 sits above its mean.
	low, _ := PredictAt(seed000(), est, est.Workload.DesignRate)
	if !(at.EndToEnd.MeanMs > low.EndToEnd.MeanMs) || !(at.EndToEnd.P95Ms > at.EndToEnd.MeanMs) || len(at.EndToEnd.ByClass) != len(DefaultMix()) {
		t.Errorf("here %+v, production %+v", at.EndToEnd, low.EndToEnd)
	}
	over, err := PredictHere(m, est, sat*1.01, here)
	if err != nil || !over.EndToEnd.Unbounded || over.MeetsSLO {
		t.Errorf("past saturation: %v, %+v", err, over.EndToEnd)
	}
	// A plan with its generators as a loadgen tier counts their 1.03 ms a
	// request once, as the tier, not again as GeneratorMs.
	lg, _ := DefaultTier("loadgen")
	withLG := seed000()
	withLG.Tiers = append(DefaultTiers(), lg)
	lgEst := mustSize(t, withLG)
	at, err = PredictHere(withLG, lgEst, 10, here)
	if want := 2 / (0.02076 + 0.00103); err != nil || !near(at.SaturationRate(), want, 1e-9) {
		t.Errorf("with a loadgen tier: %v, saturation %v, want %v", err, at.SaturationRate(), want)
	}
	// Idle CPU takes its cores from the requests whatever the rate: half a
	// core idle on the api tier leaves 1.5 for 21.36 ms a request, and adds
	// 0.5 over the tier's servers x cores to its utilization alone.
	idle := here
	idle.IdleCPU = map[string]float64{"api": 0.5, "not-a-tier": 1}
	at, err = PredictHere(m, est, 10, idle)
	if want := 1.5 / 0.02136; err != nil || !near(at.SaturationRate(), want, 1e-9) {
		t.Errorf("with idle CPU: %v, saturation %v, want %v", err, at.SaturationRate(), want)
	}
	busy, _ := PredictHere(m, est, 10, here)
	for i, te := range at.Tiers {
		want := busy.Tiers[i].Utilization
		if te.Role == "api" {
			want += 0.5 / float64(te.Servers*te.Cores)
		}
		if !near(te.Utilization, want, 1e-9) {
			t.Errorf("with idle CPU, %s utilization %v, want %v", te.Role, te.Utilization, want)
		}
	}
	if !(at.EndToEnd.MeanMs > busy.EndToEnd.MeanMs) {
		t.Errorf("idle CPU on the shared cores should add waiting: mean %v, without %v", at.EndToEnd.MeanMs, busy.EndToEnd.MeanMs)
	}
	for _, bad := range []Here{{Cores: 0}, {Cores: 2, GeneratorMs: -1}, {Cores: 2, GeneratorMs: math.NaN()},
		{Cores: 2, IdleCPU: map[string]float64{"api": -0.1}}, {Cores: 2, IdleCPU: map[string]float64{"api": math.Inf(1)}}} {
		if _, err := PredictHere(m, est, 10, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// A background class (seed 000's ETL jobs) takes its cores from the shared
// pool like idle CPU and adds them to its tiers' utilization; its
// name and rate are in the answer's why. Checked by hand against the
// 21.36 ms a request of TestPredictHere.
func TestPredictHereBackground(t *testing.T) {
	m := seed000()
	est := mustSize(t, m)
	base := Here{Cores: 2, GeneratorMs: 0.6}
	without, err := PredictHere(m, est, 10, base)
	if err != nil {
		t.Fatal(err)
	}
	etl := Background{Class: "etl", Rate: 0.5, CPU: map[string]float64{"etl": 0.1, "db-primary": 0.2, "not-a-tier": 5}}
	for _, tc := range []struct {
		name    string
		idle    map[string]float64
		bg      []Background
		freeCPU float64            // cores left to the requests
		addUtil map[string]float64 // cores added to a tier's utilization
	}{
		{name: "none", freeCPU: 2},
		{name: "etl", bg: []Background{etl}, freeCPU: 1.7, addUtil: map[string]float64{"etl": 0.1, "db-primary": 0.2}},
		{name: "etl and idle", idle: map[string]float64{"db-primary": 0.1}, bg: []Background{etl}, freeCPU: 1.6,
			addUtil: map[string]float64{"etl": 0.1, "db-primary": 0.3}},
		{name: "two classes", bg: []Background{etl, {Class: "nightly", Rate: 0, CPU: map[string]float64{"etl": 0.4}}}, freeCPU: 1.3,
			addUtil: map[string]float64{"etl": 0.5, "db-primary": 0.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := base
			h.IdleCPU, h.Background = tc.idle, tc.bg
			at, err := PredictHere(m, est, 10, h)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.freeCPU / 0.02136; !near(at.SaturationRate(), want, 1e-9) {
				t.Errorf("saturation %v, want %v", at.SaturationRate(), want)
			}
			for i, te := range at.Tiers {
				want := without.Tiers[i].Utilization + tc.addUtil[te.Role]/float64(te.Servers*te.Cores)
				if !near(te.Utilization, want, 1e-9) {
					t.Errorf("%s utilization %v, want %v", te.Role, te.Utilization, want)
				}
			}
			for _, b := range tc.bg {
				if !strings.Contains(at.Model.Why, "background class "+b.Class) {
					t.Errorf("why %q does not name %s", at.Model.Why, b.Class)
				}
			}
			if len(tc.bg) > 0 && !(at.EndToEnd.MeanMs > without.EndToEnd.MeanMs) {
				t.Errorf("background work on the shared cores should add waiting: mean %v, without %v", at.EndToEnd.MeanMs, without.EndToEnd.MeanMs)
			}
		})
	}
	for _, bad := range []Background{{Rate: 1}, {Class: "etl", Rate: -1}, {Class: "etl", Rate: math.NaN()},
		{Class: "etl", CPU: map[string]float64{"etl": -0.1}}, {Class: "etl", CPU: map[string]float64{"etl": math.Inf(1)}}} {
		h := base
		h.Background = []Background{bad}
		if _, err := PredictHere(m, est, 10, h); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// The machine's other processes (a shared machine's builds and tests)
// take their cores from the requests, as idle CPU does, but belong to no
// tier: the tiers' utilization stays the stack's own, the saturation falls
// to the cores left over the 21.36 ms a request of TestPredictHere, the
// waiting grows with them, and the answer says how many cores were free.
func TestPredictHereOtherProcesses(t *testing.T) {
	m := seed000()
	est := mustSize(t, m)
	base := Here{Cores: 2, GeneratorMs: 0.6}
	without, err := PredictHere(m, est, 10, base)
	if err != nil {
		t.Fatal(err)
	}
	last := without
	for _, tc := range []struct {
		other, free float64
		why         string
	}{
		{0, 2, "2 of them free"},
		{0.3, 1.7, "1.7 of them free"},
		{1.4, 0.6, "0.6 of them free"},
		{1.7, 0.3, "0.3 of them free"},
		{2, 0, "0 of them free"},
		{3.5, 0, "0 of them free"},
	} {
		h := base
		h.OtherCPU = tc.other
		if got := h.Free(); !near(got, tc.free, 1e-12) {
			t.Errorf("other %v: Free %v, want %v", tc.other, got, tc.free)
		}
		at, err := PredictHere(m, est, 10, h)
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.free / 0.02136; !near(at.SaturationRate(), want, 1e-9) {
			t.Errorf("other %v: saturation %v, want %v", tc.other, at.SaturationRate(), want)
		}
		if !strings.Contains(at.Model.Why, tc.why) {
			t.Errorf("other %v: why %q does not say %q", tc.other, at.Model.Why, tc.why)
		}
		for i, te := range at.Tiers {
			if !near(te.Utilization, without.Tiers[i].Utilization, 1e-12) {
				t.Errorf("other %v: %s utilization %v, want the stack's own %v", tc.other, te.Role, te.Utilization, without.Tiers[i].Utilization)
			}
		}
		// 10 req/s need 0.22 cores: below that the stack cannot keep up.
		if over := tc.free < 10*0.02136; over != at.EndToEnd.Unbounded {
			t.Errorf("other %v: unbounded %v with %v cores free", tc.other, at.EndToEnd.Unbounded, tc.free)
		}
		if !at.EndToEnd.Unbounded && !(at.EndToEnd.MeanMs >= last.EndToEnd.MeanMs) {
			t.Errorf("other %v: mean %v below %v with fewer other processes", tc.other, at.EndToEnd.MeanMs, last.EndToEnd.MeanMs)
		}
		last = at
	}
	for _, bad := range []float64{-0.1, math.NaN(), math.Inf(1)} {
		h := base
		h.OtherCPU = bad
		if _, err := PredictHere(m, est, 10, h); err == nil {
			t.Errorf("other CPU %v accepted", bad)
		}
	}
}

// PredictAtWith puts a background class on the plan's servers: its cores
// add to each tier's utilization (a tier no request reaches, the ETL
// server, included), queue with the tier's requests and leave them that
// much less before the tier saturates. No class is PredictAt.
func TestPredictAtWithBackground(t *testing.T) {
	m := seed000()
	est := mustSize(t, m)
	rate := est.Workload.DesignRate
	plain, err := PredictAt(m, est, rate)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		bg   []Background
		add  map[string]float64 // cores added by role
	}{
		{name: "none"},
		{name: "etl", bg: []Background{{Class: "etl", Rate: 0.5, CPU: map[string]float64{"etl": 0.1, "db-primary": 0.4, "nowhere": 3}}},
			add: map[string]float64{"etl": 0.1, "db-primary": 0.4}},
		{name: "two classes", bg: []Background{{Class: "etl", Rate: 0.5, CPU: map[string]float64{"db-primary": 0.4}}, {Class: "nightly", CPU: map[string]float64{"db-primary": 0.6}}},
			add: map[string]float64{"db-primary": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := PredictAtWith(m, est, rate, tc.bg)
			if err != nil {
				t.Fatal(err)
			}
			for i, te := range at.Tiers {
				pt := plain.Tiers[i]
				cores := float64(te.Servers * te.Cores)
				add := tc.add[te.Role]
				if want := pt.Utilization + add/cores; !near(te.Utilization, want, 1e-9) {
					t.Errorf("%s utilization %v, want %v", te.Role, te.Utilization, want)
				}
				if pt.SaturationRate > 0 {
					if want := pt.SaturationRate * (cores - add) / cores; !near(te.SaturationRate, want, 1e-9) {
						t.Errorf("%s saturation %v, want %v", te.Role, te.SaturationRate, want)
					}
				}
				if add > 0 && pt.ServiceDemandMs > 0 && !(te.PredictedMeanMs > pt.PredictedMeanMs) {
					t.Errorf("%s mean %v, without the class %v: want more waiting", te.Role, te.PredictedMeanMs, pt.PredictedMeanMs)
				}
				if add == 0 && (te.PredictedMeanMs != pt.PredictedMeanMs || te.Utilization != pt.Utilization) {
					t.Errorf("%s changed without background work: %+v, was %+v", te.Role, te, pt)
				}
			}
			for _, b := range tc.bg {
				if !strings.Contains(at.Model.Why, "background class "+b.Class) {
					t.Errorf("why %q does not name %s", at.Model.Why, b.Class)
				}
			}
		})
	}
	if _, err := PredictAtWith(m, est, rate, []Background{{Class: "etl", CPU: map[string]float64{"etl": -1}}}); err == nil {
		t.Error("negative background CPU accepted")
	}
}

// The other processes of a shared machine are lower-priority work for the
// requests' waiting (preempting): properties over 1 to 8 cores, rates up
// to saturation and other processes' CPU from none to nearly all the
// cores left. Saturation and utilization stay as the cores they leave
// (TestPredictHereOtherProcesses); here the latency: rising with the rate
// and with the other processes, and Little's law along the path.
func TestPredictHerePreempting(t *testing.T) {
	m := seed000()
	est := mustSize(t, m)
	p, err := prepare(fixedAt(m, est))
	if err != nil {
		t.Fatal(err)
	}
	const perRequest = 0.02136 // s of CPU a request, as in TestPredictHere
	loads := []float64{0.02, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95}
	others := []float64{0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9}
	for _, cores := range []int{1, 2, 4, 8} {
		// at[li][oi]: the requests at loads[li] of the cores, the other
		// processes at others[oi] of them.
		at := make([][]Estimate, len(loads))
		for li, load := range loads {
			rate := load * float64(cores) / perRequest
			for _, other := range others {
				h := Here{Cores: cores, GeneratorMs: 0.6, OtherCPU: other * float64(cores)}
				e, err := PredictHere(m, est, rate, h)
				if err != nil {
					t.Fatal(err)
				}
				if over := load+other >= 1; over != e.EndToEnd.Unbounded {
					t.Fatalf("%d cores, load %v, other %v: unbounded %v", cores, load, other, e.EndToEnd.Unbounded)
				}
				at[li] = append(at[li], e)
				if e.EndToEnd.Unbounded {
					continue
				}
				// Little's law: the requests in the system, rate x mean, are
				// those at the tiers, each its jobs a second x its mean.
				inTiers := 0.0
				for i, te := range e.Tiers {
					inTiers += te.ArrivalRate * p.tiers[i].used * te.PredictedMeanMs / 1000
				}
				if n := rate * e.EndToEnd.MeanMs / 1000; !near(inTiers, n, 1e-9) {
					t.Errorf("%d cores, load %v, other %v: %v requests at the tiers, %v by Little's law", cores, load, other, inTiers, n)
				}
			}
		}
		for li := range loads {
			for oi := range others {
				e := at[li][oi].EndToEnd
				if e.Unbounded {
					continue
				}
				if oi > 0 && !(e.MeanMs >= at[li][oi-1].EndToEnd.MeanMs) {
					t.Errorf("%d cores, load %v: mean %v with the others at %v, %v with fewer", cores, loads[li], e.MeanMs, others[oi], at[li][oi-1].EndToEnd.MeanMs)
				}
				if li > 0 && !(e.MeanMs >= at[li-1][oi].EndToEnd.MeanMs) {
					t.Errorf("%d cores, others at %v: mean %v at load %v, %v at a lower rate", cores, others[oi], e.MeanMs, loads[li], at[li-1][oi].EndToEnd.MeanMs)
				}
				if li > 0 && !(e.P95Ms >= at[li-1][oi].EndToEnd.P95Ms) {
					t.Errorf("%d cores, others at %v: p95 %v at load %v, %v at a lower rate", cores, others[oi], e.P95Ms, loads[li], at[li-1][oi].EndToEnd.P95Ms)
				}
				if oi > 0 && !(e.P95Ms >= at[li][oi-1].EndToEnd.P95Ms) {
					t.Errorf("%d cores, load %v: p95 %v with the others at %v, %v with fewer", cores, loads[li], e.P95Ms, others[oi], at[li][oi-1].EndToEnd.P95Ms)
				}
			}
		}
	}
}

// preempting on one pool, against queueing formulae worked out apart:
// with no other processes it is the pool's own M/M/c; with them the
// requests' mean wait is their own M/M/c's plus the wait for a core,
// taken with the chance that only the others keep every core busy, and
// below the whole pool's. The own pool's queue obeys Little's law
// L_q = lambda W_q with L_q by the Erlang C formula C rho/(1-rho).
func TestPreempting(t *testing.T) {
	for _, c := range []int{1, 2, 4, 8} {
		for _, own := range []float64{0.1, 0.5, 0.9} {
			for _, other := range []float64{0, 0.05, 0.3} {
				if own+other >= 0.99 {
					continue
				}
				for _, s := range []float64{0.0002, 0.002, 0.02} {
					mine := station{c: c, s: s, lambda: own * float64(c) / s}
					pool := mine
					pool.lambda += other * float64(c) / s
					whole := pool.response()
					got := preempting(pool, other*float64(c), c)
					if other == 0 {
						if got != whole {
							t.Errorf("c %d, own %v: %+v with no other processes, want the pool's %+v", c, own, got, whole)
						}
						continue
					}
					cq := erlangC(c, own*float64(c))
					wq := cq * own / (1 - own) / mine.lambda // Little: W_q = L_q / lambda
					blocked := erlangC(c, (own+other)*float64(c)) - cq
					if !(blocked > 0) {
						t.Errorf("c %d, own %v, other %v: no chance of finding the others on every core", c, own, other)
					}
					want := s + wq + blocked*firstCoreS(whole.theta, schedDelayS(c))
					if !near(got.mean(), want, 1e-9) {
						t.Errorf("c %d, own %v, other %v, s %v: mean %v s, want %v", c, own, other, s, got.mean(), want)
					}
					if !(got.mean() < whole.mean()) {
						t.Errorf("c %d, own %v, other %v, s %v: %+v, the whole pool's %+v: preempting should wait less", c, own, other, s, got, whole)
					}
				}
			}
		}
	}
	// EEVDF's half slice: 0.75 ms scaled by 1 + log2 of the CPUs up to 8.
	for cores, want := range map[int]float64{1: 0.375e-3, 2: 0.75e-3, 3: 0.75e-3, 4: 1.125e-3, 8: 1.5e-3, 64: 1.5e-3} {
		if got := schedDelayS(cores); !near(got, want, 1e-12) {
			t.Errorf("schedDelayS(%d) = %v, want %v", cores, got, want)
		}
	}
	// firstCoreS against E[min(X, U)] integrated numerically: the survival
	// e^(-theta t) (1 - t/(2 slice)) over 0 to 2 slice, by the midpoint rule.
	for _, tc := range []struct{ theta, slice float64 }{{1e-6, 1e-3}, {100, 0.75e-3}, {1000, 0.75e-3}, {1e5, 1.5e-3}} {
		const n = 200_000
		h := 2 * tc.slice / n
		want := 0.0
		for i := range n {
			tm := (float64(i) + 0.5) * h
			want += math.Exp(-tc.theta*tm) * (1 - tm/(2*tc.slice)) * h
		}
		got := firstCoreS(tc.theta, tc.slice)
		if !near(got, want, 1e-6) || !(got <= tc.slice) || !(got <= 1/tc.theta) {
			t.Errorf("firstCoreS(%v, %v) = %v, want %v, below both means", tc.theta, tc.slice, got, want)
		}
	}
}

// PredictHere's correlated waits against the independent form of the same
// prediction, seed 000 on two shared cores from a light load to near
// saturation, with and without other processes and an Erlang shape: every
// mean (end to end, per class, per tier), utilization and saturation is
// the same, so Little's law holds as it did (requests in the system =
// rate x mean), and no p95 is lower; the end-to-end p95 rises with the
// load, and more than the independent form's at a high one (the waits
// then stay correlated across a request's hops).
func TestPredictHereCorrelatedWaits(t *testing.T) {
	for _, scv := range []float64{1, 0.25} {
		m := seed000()
		m.Workload.ServiceSCV = scv
		est := mustSize(t, m)
		sat := 2 / 0.02136
		for _, other := range []float64{0, 0.4} {
			here := Here{Cores: 2, GeneratorMs: 0.6, OtherCPU: other}
			var gapLow, gapHigh float64
			for _, load := range []float64{0.1, 0.5, 0.8} {
				rate := load * sat * here.Free() / 2
				cor, err := predictHere(m, est, rate, here, true)
				if err != nil {
					t.Fatal(err)
				}
				ind, err := predictHere(m, est, rate, here, false)
				if err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("scv %v, other %v, load %v", scv, other, load)
				if !near(cor.EndToEnd.MeanMs, ind.EndToEnd.MeanMs, 1e-12) || !near(cor.SaturationRate(), ind.SaturationRate(), 1e-12) {
					t.Errorf("%s: mean %v, saturation %v; independent %v, %v", what, cor.EndToEnd.MeanMs, cor.SaturationRate(), ind.EndToEnd.MeanMs, ind.SaturationRate())
				}
				if n, want := rate*cor.EndToEnd.MeanMs/1000, rate*ind.EndToEnd.MeanMs/1000; !near(n, want, 1e-12) {
					t.Errorf("%s: Little's law, %v requests in the system, independent %v", what, n, want)
				}
				for c, l := range cor.EndToEnd.ByClass {
					li := ind.EndToEnd.ByClass[c]
					if !near(l.MeanMs, li.MeanMs, 1e-12) || l.P95Ms < li.P95Ms*(1-1e-9) {
						t.Errorf("%s, %s: %+v, independent %+v", what, c, l, li)
					}
				}
				for i, te := range cor.Tiers {
					ti := ind.Tiers[i]
					if te.Utilization != ti.Utilization || te.PredictedMeanMs != ti.PredictedMeanMs {
						t.Errorf("%s, %s: utilization %v, mean %v; independent %v, %v", what, te.Role, te.Utilization, te.PredictedMeanMs, ti.Utilization, ti.PredictedMeanMs)
					}
				}
				if cor.EndToEnd.P95Ms < ind.EndToEnd.P95Ms*(1-1e-9) {
					t.Errorf("%s: p95 %v below the independent form's %v", what, cor.EndToEnd.P95Ms, ind.EndToEnd.P95Ms)
				}
				gap := cor.EndToEnd.P95Ms/ind.EndToEnd.P95Ms - 1
				switch load {
				case 0.1:
					gapLow = gap
				case 0.8:
					gapHigh = gap
				}
				t.Logf("%s: p95 %.2f ms, independent %.2f (%+.1f %%), mean %.2f", what, cor.EndToEnd.P95Ms, ind.EndToEnd.P95Ms, gap*100, cor.EndToEnd.MeanMs)
			}
			if !(gapHigh > gapLow) {
				t.Errorf("scv %v, other %v: the correlation adds %v to the p95 at 80 %% busy, %v at 10 %%", scv, other, gapHigh, gapLow)
			}
		}
	}
}
