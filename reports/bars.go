package reports

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// barChart is a bar chart with one slot per category (a tier, a year): side
// by side, one bar per series (predicted, measured), or stacked, one segment
// per series (servers per tier). A NaN value draws no bar.
type barChart struct {
	Title   string
	YLabel  string
	XLabel  string
	Labels  []string
	Series  []series    // only Name and Color are used
	Values  [][]float64 // Values[series][category]
	YFmt    func(float64) string
	HGuides []guide
	Wide    bool
	Stacked bool
	Mark    int // 1-based category to highlight (today's plan); 0 for none
}

// top is the highest bar: the largest value, or the largest stack.
func (c barChart) top() float64 {
	top := 0.0
	for i := range c.Labels {
		stack := 0.0
		for j := range c.Series {
			if v := c.Values[j][i]; !math.IsNaN(v) {
				top = math.Max(top, v)
				stack += v
			}
		}
		if c.Stacked {
			top = math.Max(top, stack)
		}
	}
	for _, g := range c.HGuides {
		top = math.Max(top, g.Value)
	}
	return top
}

func (c barChart) svg() template.HTML {
	yt := niceTicks(0, c.top()*1.05, 5, c.Stacked) // stacks count whole servers
	f := frame{x0: 0, x1: 1, y0: 0, y1: yt[len(yt)-1], w: width(c.Wide)}
	var b strings.Builder
	open(&b, f, c.Title)
	axes(&b, f, nil, yt, nil, c.YFmt, c.XLabel, c.YLabel)
	slot := float64(f.w-chartLeft-chartRight) / float64(max(len(c.Labels), 1))
	bars := max(len(c.Series), 1)
	if c.Stacked {
		bars = 1
	}
	barW := math.Min(56, slot*0.7/float64(bars))
	for i, label := range c.Labels {
		x0 := chartLeft + slot*float64(i) + (slot-barW*float64(bars))/2
		if c.Mark == i+1 {
			fmt.Fprintf(&b, `<rect class="mark" x="%.1f" y="%d" width="%.1f" height="%d"/>`, chartLeft+slot*float64(i), chartTop, slot, chartH-chartTop-chartBottom)
		}
		base := 0.0
		for j, s := range c.Series {
			v := c.Values[j][i]
			if math.IsNaN(v) || (c.Stacked && v == 0) {
				continue
			}
			x, lo, hi := x0+barW*float64(j), f.py(0), f.py(v)
			if c.Stacked {
				x, lo, hi = x0, f.py(base), f.py(base+v)
				base += v
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>`,
				x, hi, barW-2, lo-hi, s.Color, esc(label), esc(s.Name), c.YFmt(v))
			if !c.Stacked {
				fmt.Fprintf(&b, `<text class="bar-value" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+(barW-2)/2, hi-4, esc(c.YFmt(v)))
			}
		}
		if c.Stacked {
			fmt.Fprintf(&b, `<text class="bar-value" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x0+(barW-2)/2, f.py(base)-4, esc(c.YFmt(base)))
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`,
			chartLeft+slot*(float64(i)+0.5), chartH-chartBottom+18, esc(label))
	}
	for _, g := range c.HGuides {
		hguide(&b, f, g)
	}
	legend(&b, c.Series)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
