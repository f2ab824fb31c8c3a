package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed report.html.tmpl
var htmlTemplate string

//go:embed report.css
var reportCSS string

// htmlPage is what the template sees.
type htmlPage struct {
	R       Report
	CSS     template.CSS
	Diagram template.HTML
	Charts  Charts
}

// WriteHTML renders r as one self-contained HTML page: CSS and SVG inline,
// no script, no external URL, so it opens offline and prints as is.
func WriteHTML(w io.Writer, r Report) error {
	t, err := template.New("report").Funcs(templateFuncs()).Parse(htmlTemplate)
	if err != nil {
		return fmt.Errorf("parse report template: %w", err)
	}
	page := htmlPage{R: r, CSS: template.CSS(reportCSS), Charts: charts(r),
		// The diagram comes from topology.DiagramSVG, crmplan's own code; it
		// is trusted markup, and the no-external-URL test covers it too.
		Diagram: template.HTML(r.Topology.SVG)}
	var buf bytes.Buffer
	if err := t.Execute(&buf, page); err != nil {
		return fmt.Errorf("render report html: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"num":         fmtNum,
		"pct":         fmtPct,
		"ms":          fmtMs,
		"recordsNote": recordsNote,
		"money":       fmtMoney,
		"bytes":       fmtBytes,
		"count": func(v any) string {
			switch n := v.(type) {
			case int:
				return fmtInt(int64(n))
			case int64:
				return fmtInt(n)
			}
			return fmt.Sprint(v)
		},
		"minus1":           func(n int) int { return n - 1 },
		"verdict":          verdictText,
		"availabilityText": availabilityText,
		"networkText":      networkText,
		"networkLegend":    func() string { return networkLegend },
	}
}

func verdictText(v string) string {
	switch v {
	case VerdictCarries:
		return "Carries the target load"
	case VerdictDoesNotCarry:
		return "Does not carry the target load"
	case VerdictUnknown:
		return "Not sized yet"
	default:
		return "At risk"
	}
}
