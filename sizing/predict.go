package sizing

import (
	"fmt"
	"math"
)

// PredictAt sizes the servers of est, their counts and cores fixed, at rate
// requests/s instead of the design rate, so that a load test at rate is
// compared with the model at the same load rather than at the load the
// servers were chosen for. m is the model est came from. The open M/M/c
// model answers (Estimate.Model says so): the load test's arrivals come at
// a fixed rate, not from a population waiting for its responses.
//
// A tier the rate overloads comes back Overloaded, as from Size. Any
// positive rate is accepted, below the design rate too (a load test that
// achieved 149.9 of 150 req/s). Errors are EINVALID: est has no design
// rate, or rate is not above 0.
func PredictAt(m Model, est Estimate, rate float64) (Estimate, error) {
	return PredictAtWith(m, est, rate, nil)
}

// PredictAtWith is PredictAt with background classes (seed 000's ETL jobs,
// as verify measured them) on the plan's servers: each class's cores on a
// tier add to its utilization and queue with its requests, and leave the
// requests that much less before it saturates.
func PredictAtWith(m Model, est Estimate, rate float64, background []Background) (Estimate, error) {
	const hint = "crmplan verify --plan PLAN.yaml --rate 150"
	if err := validBackground(background, hint); err != nil {
		return Estimate{}, err
	}
	if !(est.Workload.DesignRate > 0) {
		return Estimate{}, invalid("estimate", hint, "the estimate has no design rate to scale from")
	}
	if !(rate > 0) || !finite(rate) {
		return Estimate{}, invalid("rate", hint, "must be above 0, got %v", rate)
	}
	p, err := prepare(fixedAt(m, est))
	if err != nil {
		return Estimate{}, err
	}
	// k6 holds an arrival rate whatever the response times: an open
	// workload, which the open model describes and a closed one does not.
	p.open = true
	for i := range p.tiers {
		for _, b := range background {
			p.tiers[i].bgCores += b.CPU[p.tiers[i].spec.Role]
		}
	}
	// The design rate is proportional to the peak factor, and nothing else
	// in the model depends on it, so scaling the peak factor moves the design
	// rate to rate while users, records and growth stay the plan's. The
	// plan was validated as it is; the scaled factor only carries the rate.
	w := p.model.Workload
	w.PeakFactor *= rate / est.Workload.DesignRate
	e := p.size(w, true, make([]TierEstimate, len(p.tiers)))
	e.Database = p.database(e)
	for _, b := range background {
		e.Model.Why += fmt.Sprintf("; background class %s (%.3g jobs/s) on the tiers' cores as measured", b.Class, b.Rate)
	}
	return e, nil
}

// SaturationRate is the lowest arrival rate at which a tier of e reaches
// 100 % utilization with its servers: where a load test stepping the rate up
// should break first. 0 when no tier has a per-request demand.
func (e Estimate) SaturationRate() float64 {
	sat := math.Inf(1)
	for _, t := range e.Tiers {
		if t.SaturationRate > 0 {
			sat = math.Min(sat, t.SaturationRate)
		}
	}
	if math.IsInf(sat, 1) {
		return 0
	}
	return sat
}
