package reports

// The charts are drawn by this small SVG renderer rather than gonum/plot.
// gonum.org/v1/plot v0.17.0 was tried (vg/vgsvg): its SVG embeds no external
// URL, but it places every label at coordinates measured with its own
// Liberation font metrics and names that font in each text element, starts
// with an XML prolog, has a fixed point size and hard-coded black-on-white
// styling, and pulls freetype and x/image into the shared go.mod. Inline in
// an HTML page that means labels that drift when the page's font differs and
// charts that neither scale with the page nor follow its colours. The report
// needs four chart shapes (lines, step lines, guides, grouped bars); about
// three hundred lines here give text the page styles with CSS, a viewBox that
// scales, and <title> tooltips, with no JavaScript at all.

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Chart geometry in viewBox units; the SVG scales to its container's width.
const (
	chartNarrow = 520  // half the page: two charts side by side
	chartWide   = 1000 // the page's full width
	chartH      = 300
	chartLeft   = 64
	chartRight  = 24
	chartTop    = 44
	chartBottom = 48
)

// palette is colour-blind-safe enough for up to eight series (Okabe-Ito
// order, with a darker yellow that reads on white).
var palette = [...]string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#B8A000", "#555555"}

func color(i int) string { return palette[i%len(palette)] }

type xy struct{ X, Y float64 }

type series struct {
	Name   string
	Color  string
	Points []xy
	Step   bool // server counts change in steps, not slopes
	Dash   bool
}

// guide is a reference line: a target, an objective, today's users.
type guide struct {
	Label string
	Value float64
	Color string
}

type lineChart struct {
	Title          string
	XLabel, YLabel string
	Series         []series
	HGuides        []guide // horizontal, at a Y value
	VGuides        []guide // vertical, at an X value
	XFmt, YFmt     func(float64) string
	YFromZero      bool
	Wide           bool
}

// frame maps data to viewBox coordinates.
type frame struct {
	x0, x1, y0, y1 float64
	w              int // viewBox width
}

func width(wide bool) int {
	if wide {
		return chartWide
	}
	return chartNarrow
}

func (f frame) px(x float64) float64 {
	if f.x1 == f.x0 {
		return chartLeft
	}
	return chartLeft + (x-f.x0)/(f.x1-f.x0)*float64(f.w-chartLeft-chartRight)
}

func (f frame) py(y float64) float64 {
	if f.y1 == f.y0 {
		return chartH - chartBottom
	}
	return chartH - chartBottom - (y-f.y0)/(f.y1-f.y0)*(chartH-chartTop-chartBottom)
}

// niceTicks returns about n round tick values covering [lo, hi]; with
// whole, only whole numbers (counts of servers).
func niceTicks(lo, hi float64, n int, whole bool) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if whole && m == 2.5 && mag < 10 {
			continue
		}
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if whole {
		step = math.Max(step, 1)
	}
	var ticks []float64
	for v := math.Floor(lo/step) * step; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	if ticks[len(ticks)-1] < hi {
		ticks = append(ticks, ticks[len(ticks)-1]+step)
	}
	return ticks
}

func (c lineChart) bounds() (xs, ys []float64) {
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
			minY, maxY = math.Min(minY, p.Y), math.Max(maxY, p.Y)
		}
	}
	for _, g := range c.HGuides {
		minY, maxY = math.Min(minY, g.Value), math.Max(maxY, g.Value)
	}
	for _, g := range c.VGuides {
		minX, maxX = math.Min(minX, g.Value), math.Max(maxX, g.Value)
	}
	if math.IsInf(minX, 0) {
		minX, maxX, minY, maxY = 0, 1, 0, 1
	}
	if c.YFromZero {
		minY = math.Min(0, minY)
	}
	ys = niceTicks(minY, maxY*1.05, 5, false)
	return []float64{minX, maxX}, ys
}

// svg renders the chart as an inline <svg> element.
func (c lineChart) svg() template.HTML {
	xr, yt := c.bounds()
	f := frame{x0: xr[0], x1: xr[1], y0: yt[0], y1: yt[len(yt)-1], w: width(c.Wide)}
	xt := niceTicks(xr[0], xr[1], 6, false)
	var b strings.Builder
	open(&b, f, c.Title)
	axes(&b, f, xt, yt, c.XFmt, c.YFmt, c.XLabel, c.YLabel)
	for _, g := range c.HGuides {
		hguide(&b, f, g)
	}
	for _, g := range c.VGuides {
		x := f.px(g.Value)
		fmt.Fprintf(&b, `<line class="guide" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, x, chartTop, x, chartH-chartBottom, g.Color)
		fmt.Fprintf(&b, `<text class="guide-label" x="%.1f" y="%d" fill="%s">%s</text>`, x+4, chartTop+12, g.Color, esc(g.Label))
	}
	for i, s := range c.Series {
		col := s.Color
		if col == "" {
			col = color(i)
		}
		dash := ""
		if s.Dash {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<path class="line" d="%s" stroke="%s"%s/>`, linePath(f, s), col, dash)
		for _, p := range s.Points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s: %s at %s</title></circle>`,
				f.px(p.X), f.py(p.Y), col, esc(s.Name), c.YFmt(p.Y), c.XFmt(p.X))
		}
	}
	legend(&b, c.Series)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func linePath(f frame, s series) string {
	var d strings.Builder
	for i, p := range s.Points {
		switch {
		case i == 0:
			fmt.Fprintf(&d, "M%.1f,%.1f", f.px(p.X), f.py(p.Y))
		case s.Step:
			fmt.Fprintf(&d, " H%.1f V%.1f", f.px(p.X), f.py(p.Y))
		default:
			fmt.Fprintf(&d, " L%.1f,%.1f", f.px(p.X), f.py(p.Y))
		}
	}
	return d.String()
}

func open(b *strings.Builder, f frame, title string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, f.w, chartH, esc(title))
	fmt.Fprintf(b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(b, `<text class="chart-title" x="%d" y="18">%s</text>`, chartLeft, esc(title))
}

// axes draws the grid, tick labels and axis titles.
func axes(b *strings.Builder, f frame, xt, yt []float64, xfmt, yfmt func(float64) string, xl, yl string) {
	for _, v := range yt {
		y := f.py(v)
		fmt.Fprintf(b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, chartLeft, y, f.w-chartRight, y)
		fmt.Fprintf(b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-6, y+4, esc(yfmt(v)))
	}
	for _, v := range xt {
		if v < f.x0-1e-9 || v > f.x1+1e-9 {
			continue
		}
		x := f.px(v)
		fmt.Fprintf(b, `<line class="tickmark" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`, x, chartH-chartBottom, x, chartH-chartBottom+4)
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, chartH-chartBottom+18, esc(xfmt(v)))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, chartLeft, chartH-chartBottom, f.w-chartRight, chartH-chartBottom)
	fmt.Fprintf(b, `<text class="axis-label" x="%d" y="%d" text-anchor="middle">%s</text>`, (chartLeft+f.w-chartRight)/2, chartH-8, esc(xl))
	fmt.Fprintf(b, `<text class="axis-label" transform="translate(14 %d) rotate(-90)" text-anchor="middle">%s</text>`, (chartTop+chartH-chartBottom)/2, esc(yl))
}

// legend lays the series names out in one row under the title.
func legend(b *strings.Builder, ss []series) {
	x := float64(chartLeft)
	for i, s := range ss {
		col := s.Color
		if col == "" {
			col = color(i)
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="27" width="12" height="4" rx="1" fill="%s"/>`, x, col)
		fmt.Fprintf(b, `<text class="legend" x="%.1f" y="33">%s</text>`, x+16, esc(s.Name))
		// 6.5 units per character approximates the 11-unit legend font.
		x += 16 + 6.5*float64(len([]rune(s.Name))) + 18
	}
}

// hguide draws a labelled horizontal reference line.
func hguide(b *strings.Builder, f frame, g guide) {
	y := f.py(g.Value)
	fmt.Fprintf(b, `<line class="guide" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, chartLeft, y, f.w-chartRight, y, g.Color)
	fmt.Fprintf(b, `<text class="guide-label" x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`, f.w-chartRight-4, y-5, g.Color, esc(g.Label))
}

func esc(s string) string { return template.HTMLEscapeString(s) }
