package sizing

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
	"gonum.org/v1/gonum/stat/distuv"
)

// USLPoint is one measured load level: N requests in flight on average
// (Little's law: throughput times mean response time) and the throughput X
// at that level, requests/s.
type USLPoint struct {
	N float64 `json:"n"`
	X float64 `json:"x"`
}

// USL is Gunther's Universal Scalability Law fitted to measured points:
//
//	X(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1))
//
// lambda is the throughput of one request in flight, sigma the contention
// (the serialized share of the work), kappa the coherency cost (crosstalk
// growing with N squared). Each parameter comes with its 95 % confidence
// interval from the fit's covariance (the inverse of J^T J times the
// residual variance, Student's t with n-3 degrees of freedom); with three
// or fewer points there are none (Low = High = the estimate).
type USL struct {
	Lambda Interval `json:"lambda"`
	Sigma  Interval `json:"sigma"`
	Kappa  Interval `json:"kappa"`
	// PeakN and PeakX are where X(N) is highest: N* = sqrt((1-sigma)/kappa)
	// and X(N*). Without coherency cost (kappa 0) the curve rises to the
	// asymptote lambda/sigma, reported as PeakX with PeakN 0; with neither,
	// it does not peak and both are 0.
	PeakN  float64 `json:"peak_n"`
	PeakX  float64 `json:"peak_x"`
	Points int     `json:"points"`
	// MaxN is the highest N measured: a peak beyond it is the curve's
	// extrapolation, not a measurement.
	MaxN float64 `json:"max_n"`
	// RMSE is the root mean square of the throughput residuals, requests/s.
	RMSE float64 `json:"rmse"`
}

// Interval is an estimate with its 95 % confidence interval.
type Interval struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// At is the fitted throughput at n requests in flight.
func (u USL) At(n float64) float64 {
	return u.Lambda.Value * n / (1 + u.Sigma.Value*(n-1) + u.Kappa.Value*n*(n-1))
}

// FitUSL fits the USL to points by least squares on the throughput, with
// sigma and kappa held at 0 or more (Nelder-Mead over sigma and kappa;
// for each pair lambda is the linear least-squares answer). It needs at
// least three points with N and X above 0; EINVALID otherwise.
func FitUSL(points []USLPoint) (USL, error) {
	var pts []USLPoint
	for _, p := range points {
		if p.N > 0 && p.X > 0 && finite(p.N) && finite(p.X) {
			pts = append(pts, p)
		}
	}
	if len(pts) < 3 {
		return USL{}, invalid("find-max", "crmplan verify --find-max --plan PLAN.yaml",
			"the USL needs at least 3 load levels with throughput, got %d", len(pts))
	}
	// lambda for given sigma, kappa: minimize sum (X - lambda g)^2 with
	// g = N / denominator, so lambda = sum(X g) / sum(g g).
	lambdaFor := func(sigma, kappa float64) (lambda, rss float64) {
		var xg, gg float64
		for _, p := range pts {
			g := p.N / (1 + sigma*(p.N-1) + kappa*p.N*(p.N-1))
			xg += p.X * g
			gg += g * g
		}
		lambda = xg / gg
		for _, p := range pts {
			r := p.X - lambda*p.N/(1+sigma*(p.N-1)+kappa*p.N*(p.N-1))
			rss += r * r
		}
		return lambda, rss
	}
	obj := func(v []float64) float64 {
		sigma, kappa := math.Abs(v[0]), math.Abs(v[1])
		_, rss := lambdaFor(sigma, kappa)
		if math.IsNaN(rss) {
			return math.Inf(1)
		}
		return rss
	}
	best := []float64{0, 0}
	bestF := obj(best)
	// A few starts: the surface is flat along kappa where the points stop
	// short of the peak.
	for _, start := range [][]float64{{0.05, 0.001}, {0.3, 0.01}, {0.01, 0.1}} {
		r, err := optimize.Minimize(optimize.Problem{Func: obj}, start, &optimize.Settings{FuncEvaluations: 4000}, &optimize.NelderMead{})
		if err == nil && r.F < bestF {
			best, bestF = r.X, r.F
		}
	}
	sigma, kappa := math.Abs(best[0]), math.Abs(best[1])
	if kappa < 1e-9 {
		kappa = 0 // the optimizer's rounding, not crosstalk
	}
	lambda, rss := lambdaFor(sigma, kappa)
	u := USL{Lambda: Interval{Value: lambda}, Sigma: Interval{Value: sigma}, Kappa: Interval{Value: kappa},
		Points: len(pts), RMSE: math.Sqrt(rss / float64(len(pts)))}
	for _, p := range pts {
		u.MaxN = math.Max(u.MaxN, p.N)
	}
	u.intervals(pts, rss)
	switch {
	case kappa > 0 && sigma < 1:
		u.PeakN = math.Sqrt((1 - sigma) / kappa)
		u.PeakX = u.At(u.PeakN)
	case sigma > 0:
		u.PeakX = lambda / sigma
	}
	return u, nil
}

// intervals sets the 95 % confidence intervals from the Jacobian at the
// fit, when there are more points than parameters and J^T J inverts.
func (u *USL) intervals(pts []USLPoint, rss float64) {
	for _, iv := range []*Interval{&u.Lambda, &u.Sigma, &u.Kappa} {
		iv.Low, iv.High = iv.Value, iv.Value
	}
	dof := len(pts) - 3
	if dof < 1 {
		return
	}
	l, s, k := u.Lambda.Value, u.Sigma.Value, u.Kappa.Value
	j := mat.NewDense(len(pts), 3, nil)
	for i, p := range pts {
		g := 1 + s*(p.N-1) + k*p.N*(p.N-1)
		j.Set(i, 0, p.N/g)
		j.Set(i, 1, -l*p.N*(p.N-1)/(g*g))
		j.Set(i, 2, -l*p.N*p.N*(p.N-1)/(g*g))
	}
	var jtj, cov mat.Dense
	jtj.Mul(j.T(), j)
	if err := cov.Inverse(&jtj); err != nil {
		return // flat along a parameter: no interval says anything
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(dof)}.Quantile(0.975)
	s2 := rss / float64(dof)
	for i, iv := range []*Interval{&u.Lambda, &u.Sigma, &u.Kappa} {
		v := cov.At(i, i) * s2
		if !(v >= 0) || math.IsInf(v, 0) {
			continue
		}
		half := t * math.Sqrt(v)
		iv.Low, iv.High = iv.Value-half, iv.Value+half
	}
}

// String is the fit in a line, for the CLI and the report.
func (u USL) String() string {
	peak := "no peak within the fit"
	if u.PeakX > 0 && u.PeakN > 0 {
		peak = fmt.Sprintf("peak %.0f req/s at %.1f in flight", u.PeakX, u.PeakN)
	} else if u.PeakX > 0 {
		peak = fmt.Sprintf("approaches %.0f req/s", u.PeakX)
	}
	if u.PeakX > 0 && (u.PeakN == 0 || u.PeakN > u.MaxN) {
		peak += fmt.Sprintf(", extrapolated beyond the %.1f in flight measured", u.MaxN)
	}
	return fmt.Sprintf("lambda %.1f [%.1f, %.1f], sigma %.4f [%.4f, %.4f], kappa %.5f [%.5f, %.5f]; %s (%d points, rmse %.1f req/s)",
		u.Lambda.Value, u.Lambda.Low, u.Lambda.High, u.Sigma.Value, u.Sigma.Low, u.Sigma.High,
		u.Kappa.Value, u.Kappa.Low, u.Kappa.High, peak, u.Points, u.RMSE)
}
