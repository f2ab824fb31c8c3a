package sizing

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/crmplan/crmplan"
)

// Limits beyond which the model refuses input: far past any CRM, and they
// keep the O(cores) Erlang recursion and the sweeps bounded.
const (
	maxNamedUsers = 1_000_000_000
	maxYears      = 50
	maxTierCores  = 1024
	maxServers    = 100_000
	mixTolerance  = 1e-3
	maxTPM        = 6000 // 100 requests a second from one session
	maxPeakFactor = 100
	maxRecords    = 1e12
	maxGrowth     = 1000  // (1+growth)^years
	maxDemandMs   = 3.6e6 // an hour of CPU per request
)

// invalid builds the EINVALID error every check returns.
func invalid(field, hint, format string, args ...any) error {
	return crmplan.Errorf(crmplan.EINVALID, format, args...).In(field).Try("%s", hint)
}

// finite reports whether x is a number that is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// validate checks a model that WithDefaults has filled. Fields are named by
// their plan-file path; the CLI renames them to flags where a flag set them.
func validate(m Model) error {
	if err := validateWorkload(m.Workload); err != nil {
		return err
	}
	if !(m.SLO.P95Ms > 0) || !finite(m.SLO.P95Ms) {
		return invalid("slo.p95_ms", "set slo.p95_ms: 500 in the plan file",
			"must be a number of milliseconds above 0, got %v", m.SLO.P95Ms)
	}
	if !(m.SLO.ErrorRate >= 0 && m.SLO.ErrorRate < 1) {
		return invalid("slo.error_rate", "set slo.error_rate: 0.01 in the plan file",
			"must be a share in [0, 1), got %v", m.SLO.ErrorRate)
	}
	if err := validateClassSLOs(m.SLO); err != nil {
		return err
	}
	for i, t := range m.Tiers {
		if err := validateTier(fmt.Sprintf("tiers[%d]", i), t); err != nil {
			return err
		}
	}
	return validateDatabase(m.Database)
}

// validateClassSLOs checks the per-class objectives: known classes, each
// with a p95 above 0.
func validateClassSLOs(s SLO) error {
	known := map[Class]bool{}
	var names []string
	for _, c := range Classes() {
		known[c] = true
		names = append(names, string(c))
	}
	for _, c := range sortedClasses(s.Classes) {
		field := "slo.classes." + string(c)
		if !known[c] {
			return invalid(field, "name one of "+strings.Join(names, ", ")+" under slo.classes",
				"%q is not a request class", c)
		}
		if p := s.Classes[c].P95Ms; !(p > 0) || !finite(p) {
			return invalid(field+".p95_ms", fmt.Sprintf("slo: {classes: {%s: {p95_ms: 1000}}}", c),
				"must be a number of milliseconds above 0, got %v", p)
		}
	}
	return nil
}

// sortedClasses returns m's keys in order, so errors name the same one
// every time.
func sortedClasses[V any](m map[Class]V) []Class {
	out := make([]Class, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func validateWorkload(w Workload) error {
	if err := validateRates(w); err != nil {
		return err
	}
	if err := validateMix(w.Mix); err != nil {
		return err
	}
	if err := validateDelay(w.DelayMs); err != nil {
		return err
	}
	return validateSCV(w.ServiceSCV)
}

// validateSCV checks the service times' shape: 0 is not given (the
// exponential), else a squared coefficient of variation in (0, 1]. Above 1
// (a time more variable than an exponential) the model has no shape to
// take, and at 0 a time would not vary at all, which no CPU time does.
func validateSCV(scv float64) error {
	if scv == 0 || (scv > 0 && scv <= 1) {
		return nil
	}
	return invalid("workload.service_scv", "service_scv: 0.25   # or leave it out for exponential times (1); crmplan calibrate fits it",
		"must be a squared coefficient of variation above 0 and at most 1, got %v", scv)
}

// validateDelay checks the classes' fixed delays: known classes, 0 or more
// milliseconds, at most a minute (beyond it a figure is a typo, not a
// round trip).
func validateDelay(delay map[Class]float64) error {
	for _, c := range sortedClasses(delay) {
		field := "workload.delay_ms." + string(c)
		if !knownClass(c) {
			return invalid(field, "use the classes "+classList(), "unknown request class %q", c)
		}
		if d := delay[c]; !(d >= 0 && d <= 60000) {
			return invalid(field, "crmplan calibrate --plan PLAN.yaml   # measures it from a verify run",
				"must be milliseconds between 0 and 60000, got %v", d)
		}
	}
	return nil
}

// validateRates checks the workload's numbers, all but the mix; sweeps and
// projections, which change only numbers, check each point with it.
func validateRates(w Workload) error {
	if w.NamedUsers <= 0 || w.NamedUsers > maxNamedUsers {
		return invalid("workload.named_users", "crmplan size --named-users 3000",
			"must be above 0 and at most %d, got %d", maxNamedUsers, w.NamedUsers)
	}
	if !(w.Concurrency > 0 && w.Concurrency <= 1) {
		return invalid("workload.concurrency", "crmplan size --concurrency 60%",
			"must be a share of named users in (0, 1] (60%% is 0.6), got %v", w.Concurrency)
	}
	if !(w.TPM > 0 && w.TPM <= maxTPM) {
		return invalid("workload.tpm", "crmplan size --tpm 5",
			"must be requests per active session per minute above 0 and at most %d, got %v", maxTPM, w.TPM)
	}
	if w.Records < 0 || w.Records > maxRecords {
		return invalid("workload.records", "crmplan size --records 25M", "must be between 0 and 1e12, got %d", w.Records)
	}
	if !(w.PeakFactor >= 1 && w.PeakFactor <= maxPeakFactor) {
		return invalid("workload.peak_factor", "set workload.peak_factor: 1.5 in the plan file",
			"is the peak rate over the average and must be between 1 and %d, got %v", maxPeakFactor, w.PeakFactor)
	}
	if !(w.Growth > -1 && w.Growth <= 10) {
		return invalid("workload.growth", "crmplan size --growth 20% --years 3",
			"must be a yearly share above -1 and at most 10, got %v", w.Growth)
	}
	if w.Years < 0 || w.Years > maxYears {
		return invalid("workload.years", "crmplan size --growth 20% --years 3",
			"must be between 0 and %d, got %d", maxYears, w.Years)
	}
	if g := math.Pow(1+w.Growth, float64(w.Years)); g > maxGrowth {
		return invalid("workload.growth", "crmplan size --growth 20% --years 3",
			"grows the load %.3g-fold over %d years, beyond the model's %d-fold", g, w.Years, maxGrowth)
	}
	return nil
}

func validateMix(mix Mix) error {
	var sum float64
	for c, share := range mix {
		field := "workload.mix." + string(c)
		if !knownClass(c) {
			return invalid(field, "use the classes "+classList(), "unknown request class %q", c)
		}
		if !(share >= 0) || !finite(share) {
			return invalid(field, "set a share between 0 and 1", "must be a share of 0 or more, got %v", share)
		}
		sum += share
	}
	if math.Abs(sum-1) > mixTolerance {
		return invalid("workload.mix", "make the shares add up to 1, e.g. list 0.35, view 0.35, write 0.15, report 0.05, integration 0.1",
			"shares must add up to 1, got %.4g", sum)
	}
	return nil
}

func validateTier(at string, t TierSpec) error {
	if t.Role == "" {
		return invalid(at+".role", "name a role: "+strings.Join(DefaultRoles(), ", "), "must not be empty")
	}
	if _, known := DefaultTier(t.Role); !known && t.Demand == nil {
		return invalid(at+".role", "use one of "+strings.Join(DefaultRoles(), ", ")+", or give the tier demand_ms",
			"unknown role %q has no default demand", t.Role)
	}
	for c, d := range t.Demand {
		if !knownClass(c) {
			return invalid(at+".demand_ms."+string(c), "use the classes "+classList(), "unknown request class %q", c)
		}
		if !(d >= 0 && d <= maxDemandMs) {
			return invalid(at+".demand_ms."+string(c), "give milliseconds of one core, e.g. 12",
				"must be between 0 and %g milliseconds, got %v", maxDemandMs, d)
		}
	}
	if !(t.Visit > 0 && t.Visit <= 1) {
		return invalid(at+".visit", "set visit: 1 for a tier every request passes",
			"must be a share of requests in (0, 1], got %v", t.Visit)
	}
	if t.Cores < 1 || t.Cores > maxTierCores {
		return invalid(at+".cores", "set cores: 4", "must be between 1 and %d, got %d", maxTierCores, t.Cores)
	}
	if !(t.TargetUtilization > 0 && t.TargetUtilization < 1) {
		return invalid(at+".target_utilization", "set target_utilization: 0.6",
			"must be a share in (0, 1), got %v", t.TargetUtilization)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"servers", t.Servers}, {"min", t.Min}, {"max_servers", t.MaxServers}} {
		if f.v < 0 || f.v > maxServers {
			return invalid(at+"."+f.name, "leave it out to let the model choose",
				"must be between 0 and %d, got %d", maxServers, f.v)
		}
	}
	if t.MaxServers > 0 && (t.Min > t.MaxServers || t.Servers > t.MaxServers) {
		return invalid(at+".max_servers", fmt.Sprintf("raise max_servers to %d", max(t.Min, t.Servers)),
			"is %d, below the tier's min or servers", t.MaxServers)
	}
	if t.HA && t.MaxServers == 1 {
		return invalid(at+".max_servers", "set max_servers: 2, or drop ha",
			"is 1, which leaves no room for the HA tier's spare")
	}
	return nil
}

func validateDatabase(d DatabaseSpec) error {
	switch {
	case d.RowBytes < 0:
		return invalid("database.row_bytes", "set row_bytes: 1024", "must be 0 or more, got %d", d.RowBytes)
	case !(d.IndexOverhead >= 0) || !finite(d.IndexOverhead):
		return invalid("database.index_overhead", "set index_overhead: 0.5", "must be a share of 0 or more, got %v", d.IndexOverhead)
	case !(d.WorkingSetShare > 0 && d.WorkingSetShare <= 1):
		return invalid("database.working_set_share", "set working_set_share: 0.2", "must be a share in (0, 1], got %v", d.WorkingSetShare)
	case d.MemoryBytes < 0:
		return invalid("database.memory_bytes", "leave memory_bytes out to size it from the working set", "must be 0 or more, got %d", d.MemoryBytes)
	}
	return nil
}

func knownClass(c Class) bool {
	for _, k := range Classes() {
		if k == c {
			return true
		}
	}
	return false
}

func classList() string {
	var names []string
	for _, c := range Classes() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}
