package sizing

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Points on a known USL curve, with and without noise: the fit recovers
// the parameters, its intervals cover them, and the peak is where
// dX/dN = 0, N* = sqrt((1-sigma)/kappa).
func TestFitUSL(t *testing.T) {
	truth := USL{Lambda: Interval{Value: 120}, Sigma: Interval{Value: 0.04}, Kappa: Interval{Value: 0.002}}
	wantN := math.Sqrt((1 - 0.04) / 0.002) // 21.9
	wantX := truth.At(wantN)
	rng := rand.New(rand.NewPCG(18, 4))
	for _, noise := range []float64{0, 0.02} {
		var pts []USLPoint
		for _, n := range []float64{1, 2, 4, 8, 12, 16, 24, 32, 48} {
			pts = append(pts, USLPoint{N: n, X: truth.At(n) * (1 + noise*rng.NormFloat64())})
		}
		u, err := FitUSL(pts)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-3 + 5*noise
		if !near(u.Lambda.Value, 120, tol) || !near(u.PeakX, wantX, tol) || !near(u.PeakN, wantN, 0.05+10*noise) {
			t.Errorf("noise %v: %s; want lambda 120, peak %.1f at %.1f", noise, u, wantX, wantN)
		}
		for name, iv := range map[string]struct {
			got  Interval
			want float64
		}{"lambda": {u.Lambda, 120}, "sigma": {u.Sigma, 0.04}, "kappa": {u.Kappa, 0.002}} {
			if noise > 0 && !(iv.got.Low <= iv.want && iv.want <= iv.got.High && iv.got.Low < iv.got.High) {
				t.Errorf("noise %v: %s interval %+v misses %v", noise, name, iv.got, iv.want)
			}
		}
	}
}

func TestFitUSLNeedsThreePoints(t *testing.T) {
	if _, err := FitUSL([]USLPoint{{1, 10}, {2, 19}, {0, 5}}); err == nil {
		t.Error("two usable points accepted")
	}
	// Three points: a fit, but no interval.
	u, err := FitUSL([]USLPoint{{1, 10}, {2, 19}, {4, 33}})
	if err != nil || u.Lambda.Low != u.Lambda.High {
		t.Errorf("%v, %+v", err, u)
	}
}
