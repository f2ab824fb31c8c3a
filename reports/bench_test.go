package reports

import (
	"io"
	"testing"
)

// BenchmarkReport builds the full fixture's report and renders all three
// files: the work `crmplan report` does after sizing, without the disk.
func BenchmarkReport(b *testing.B) {
	in := fixtures()[0].in
	b.ReportAllocs()
	for b.Loop() {
		r, err := Build(in)
		if err != nil {
			b.Fatal(err)
		}
		for _, render := range []func(io.Writer, Report) error{WriteHTML, WriteMarkdown, WriteJSON} {
			if err := render(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	}
}
