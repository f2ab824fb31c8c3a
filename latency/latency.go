// Package latency is a mergeable histogram of response times, shared by the
// load generators (host side) and verify (planning side). Percentiles of
// several generators cannot be averaged (grafana/k6-operator#413); their
// histograms can be added bucket by bucket, and the quantiles of the sum are
// those of one generator that had seen every request, within the buckets'
// resolution.
//
// It wraps an HDR histogram (HdrHistogram/hdrhistogram-go) with microsecond
// units, 3 significant digits (every value is kept to within 0.1 %) from
// 1 µs to 10 minutes, and travels as HDR's own V2 compressed encoding, so
// any HDR tool can read what a generator sent.
package latency

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

const (
	lowestUs  = 1
	highestUs = int64(10 * time.Minute / time.Microsecond)
	digits    = 3
)

// Histogram counts response times. The zero value is empty and ready to
// use; it is not safe for concurrent use.
type Histogram struct {
	h *hdrhistogram.Histogram
}

// New returns an empty histogram.
func New() *Histogram { return &Histogram{h: empty()} }

func empty() *hdrhistogram.Histogram { return hdrhistogram.New(lowestUs, highestUs, digits) }

func (h *Histogram) hist() *hdrhistogram.Histogram {
	if h.h == nil {
		h.h = empty()
	}
	return h.h
}

// RecordMs counts one response time in milliseconds (k6's unit). Times
// beyond the range are counted at its edge rather than lost: a request
// that took longer than 10 minutes still counts as a very slow one.
func (h *Histogram) RecordMs(ms float64) {
	us := int64(ms*1000 + 0.5)
	us = min(max(us, lowestUs), highestUs)
	_ = h.hist().RecordValue(us) // in range by construction
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.h == nil {
		return
	}
	h.hist().Merge(o.h)
}

// Count is the number of response times recorded.
func (h *Histogram) Count() int64 {
	if h == nil || h.h == nil {
		return 0
	}
	return h.h.TotalCount()
}

// QuantileMs returns the response time in milliseconds that a share q
// (0 to 1) of the recorded ones do not exceed: the highest value of the
// bucket that holds the q-th one, so a threshold judged on it errs on the
// strict side. 0 when empty.
func (h *Histogram) QuantileMs(q float64) float64 {
	if h.Count() == 0 {
		return 0
	}
	return float64(h.h.ValueAtQuantile(q*100)) / 1000
}

// MeanMs is the mean response time in milliseconds, 0 when empty.
func (h *Histogram) MeanMs() float64 {
	if h.Count() == 0 {
		return 0
	}
	return h.h.Mean() / 1000
}

// MaxMs is the highest response time in milliseconds (its bucket's top).
func (h *Histogram) MaxMs() float64 {
	if h.Count() == 0 {
		return 0
	}
	return float64(h.h.Max()) / 1000
}

// Equivalent reports whether two times in milliseconds fall into the same
// bucket: whether they are equal within the histogram's resolution.
func Equivalent(aMs, bMs float64) bool {
	return empty().ValuesAreEquivalent(int64(aMs*1000+0.5), int64(bMs*1000+0.5))
}

// MarshalJSON encodes h as a string: HDR's V2 compressed encoding in base64.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	b, err := h.hist().Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("latency histogram: %w", err)
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("latency histogram: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("latency histogram: %w", err)
	}
	d, err := hdrhistogram.Decode(raw)
	if err != nil {
		return fmt.Errorf("latency histogram: %w", err)
	}
	// Merged into a histogram of the package's own range, so that a
	// histogram from elsewhere cannot make later merges drop counts.
	h.h = empty()
	if dropped := h.h.Merge(d); dropped > 0 {
		return fmt.Errorf("latency histogram: %d values outside 1 µs to 10 min", dropped)
	}
	return nil
}
