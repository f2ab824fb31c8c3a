package sizing

import (
	"math/rand/v2"
	"testing"
)

// randomModel draws a model from the space a planner might ask about:
// any subset of the known roles with random cores, targets, HA and mins,
// workloads up to 200,000 named users, and SLOs from tight to loose.
func randomModel(rng *rand.Rand) Model {
	m := Model{
		Workload: Workload{
			NamedUsers:  1 + rng.IntN(200_000),
			Concurrency: 0.05 + 0.95*rng.Float64(),
			TPM:         0.5 + 20*rng.Float64(),
			Records:     rng.Int64N(100_000_000),
			PeakFactor:  1 + 2*rng.Float64(),
		},
		SLO: SLO{P95Ms: 150 + 1000*rng.Float64()},
	}
	for _, role := range DefaultRoles() {
		if rng.IntN(3) == 0 {
			continue
		}
		t, _ := DefaultTier(role)
		t.Cores = 1 << rng.IntN(4)
		t.TargetUtilization = 0.3 + 0.6*rng.Float64()
		t.Min = rng.IntN(3)
		if t.MaxServers == 0 {
			t.HA = rng.IntN(2) == 0
		} else {
			t.Min = min(t.Min, t.MaxServers)
		}
		m.Tiers = append(m.Tiers, t)
	}
	if len(m.Tiers) == 0 {
		m.Tiers = DefaultTiers()
	}
	return m
}

// More named users never yields fewer servers in any tier, and with the
// counts held fixed never a lower utilization.
//
// Except across the point where a capped tier (a single primary at
// MaxCores) is overloaded: then no count meets the SLO, applySLO gives up
// apportioning it, and the tiers it had raised for latency at the smaller
// load fall back to their utilization counts (seen with seed 002's kv
// tier: 3 -> 2 servers when the primary crossed 100 %). Such a plan cannot
// carry its load at all; the count check skips the pairs that cross that
// point, and fails if it skips so many that the property goes untested.
func TestPropertyMonotoneInUsers(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 2))
	skipped := 0
	for i := range 3000 {
		small := randomModel(rng)
		large := small
		large.Workload.NamedUsers += 1 + rng.IntN(50_000)
		a, b := mustSize(t, small), mustSize(t, large)
		overloaded := overloadedCap(b) && !overloadedCap(a) // crossed the point between the two
		if overloaded {
			skipped++
		}
		for k := range a.Tiers {
			if overloaded {
				break
			}
			ta, tb := a.Tiers[k], b.Tiers[k]
			if tb.Servers < ta.Servers || (tb.Servers == ta.Servers && tb.Cores < ta.Cores) {
				t.Fatalf("case %d: %s shrank from %d x %d cores at %d users to %d x %d at %d users",
					i, ta.Role, ta.Servers, ta.Cores, small.Workload.NamedUsers, tb.Servers, tb.Cores, large.Workload.NamedUsers)
			}
		}
		// Fix every tier at the smaller model's counts and cores.
		fixedSmall, fixedLarge := small, large
		fixedSmall.Tiers = make([]TierSpec, len(small.Tiers))
		for k, ts := range small.Tiers {
			ts.Servers, ts.Cores = a.Tiers[k].Servers, a.Tiers[k].Cores
			fixedSmall.Tiers[k] = ts
		}
		fixedLarge.Tiers = fixedSmall.Tiers
		fa, fb := mustSize(t, fixedSmall), mustSize(t, fixedLarge)
		for k := range fa.Tiers {
			if fb.Tiers[k].Utilization < fa.Tiers[k].Utilization {
				t.Fatalf("case %d: %s utilization fell from %v to %v with more users at fixed servers",
					i, fa.Tiers[k].Role, fa.Tiers[k].Utilization, fb.Tiers[k].Utilization)
			}
		}
	}
	if skipped > 300 { // 127 with this seed
		t.Errorf("%d of 3000 cases skipped as crossing into an overloaded cap: the property went untested", skipped)
	}
	t.Logf("%d of 3000 cases crossed into an overloaded cap: their counts were not compared", skipped)
}

// Every tier the model sizes stays at or below its target utilization, the
// SLO verdict agrees with the predicted latency, and an HA tier always has
// its spare.
func TestPropertyWithinTarget(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	seen := map[string]int{}
	for i := range 3000 {
		m := randomModel(rng)
		e := mustSize(t, m)
		for k, te := range e.Tiers {
			spec := m.Tiers[k]
			seen[te.Reason]++
			if te.Reason != ReasonMax && te.Utilization > spec.TargetUtilization*(1+1e-12) {
				t.Fatalf("case %d: %s at %v utilization, target %v (%s: %s)",
					i, te.Role, te.Utilization, spec.TargetUtilization, te.Reason, te.Detail)
			}
			if te.Servers < max(spec.Min, 1) || (spec.HA && te.Servers < 2) {
				t.Fatalf("case %d: %s has %d servers, min %d, HA %v", i, te.Role, te.Servers, spec.Min, spec.HA)
			}
			if te.PredictedP95Ms < te.PredictedMeanMs {
				t.Fatalf("case %d: %s p95 %v below mean %v", i, te.Role, te.PredictedP95Ms, te.PredictedMeanMs)
			}
		}
		if e.MeetsSLO && e.Failover.P95Ms > m.SLO.P95Ms*(1+1e-9) {
			t.Fatalf("case %d: meets SLO with failover p95 %v above %v", i, e.Failover.P95Ms, m.SLO.P95Ms)
		}
	}
	// The random space must reach every way of choosing a count, or the
	// property says nothing about the ones it missed.
	for _, r := range []string{ReasonUtilization, ReasonSLO, ReasonHA, ReasonMin, ReasonScaleUp} {
		if seen[r] == 0 {
			t.Errorf("no tier sized for reason %q in %v", r, seen)
		}
	}
	t.Logf("reasons: %v", seen)
}

// overloadedCap reports whether a tier capped at MaxCores is past 100 %.
func overloadedCap(e Estimate) bool {
	for _, t := range e.Tiers {
		if t.Reason == ReasonMax && t.Utilization >= 1 {
			return true
		}
	}
	return false
}
