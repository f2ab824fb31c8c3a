package reports

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; diff it with:\n  go test ./reports -run %s -update && git diff %s", path, t.Name(), path)
	}
}

func TestGolden(t *testing.T) {
	for _, fx := range fixtures() {
		t.Run(fx.name, func(t *testing.T) {
			r, err := Build(fx.in)
			if err != nil {
				t.Fatal(err)
			}
			var md, js bytes.Buffer
			if err := WriteMarkdown(&md, r); err != nil {
				t.Fatal(err)
			}
			if err := WriteJSON(&js, r); err != nil {
				t.Fatal(err)
			}
			golden(t, fx.name+".md", md.Bytes())
			golden(t, fx.name+".json", js.Bytes())
		})
	}
}

// seedCost is the fixture's monthly cost from DefaultPrices, worked by hand.
const seedCost = 2*70.08 + 3*124.1 + 2*183.96 + 2*140.16

func TestBuildNumbers(t *testing.T) {
	fx := fixtures()
	tests := []struct {
		name        string
		in          Inputs
		verdict     string
		headroom    float64
		bottleneck  string
		total       float64
		missing     []string // sections that must say their input is missing
		nextServers int
	}{
		// db-primary: 228.16 × 5.3 ms / 4 cores = 30.2 % → 1/0.302 − 1 = 231 %.
		// web 2 × m6i.large, api 3 × c6i.xlarge (the plan's), databases r6i.xlarge, ESB and ETL m6i.xlarge.
		{"full", fx[0].in, VerdictCarries, 231, "db-primary", seedCost, nil, 1},
		{"sized", fx[1].in, VerdictCarries, 231, "db-primary", seedCost, []string{"measured", "timeline"}, 1},
		{"plan-only", fx[2].in, VerdictUnknown, 0, "", 0,
			[]string{"workload", "tiers", "measured", "timeline", "what-if", "growth", "database", "cost", "topology"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Build(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			s := r.Summary
			if s.Verdict != tt.verdict || s.HeadroomPct != tt.headroom || s.Bottleneck != tt.bottleneck {
				t.Errorf("summary = %s, %v%%, %q; want %s, %v%%, %q", s.Verdict, s.HeadroomPct, s.Bottleneck, tt.verdict, tt.headroom, tt.bottleneck)
			}
			if diff := r.Cost.Total - tt.total; diff > 0.005 || diff < -0.005 {
				t.Errorf("cost = %.2f, want %.2f", r.Cost.Total, tt.total)
			}
			if len(r.Growth.Next) != tt.nextServers {
				t.Errorf("next servers = %+v, want %d entries", r.Growth.Next, tt.nextServers)
			}
			got := map[string]string{"workload": r.Workload.Missing, "tiers": r.Tiers.Missing, "measured": r.Measured.Missing,
				"timeline": r.Timeline.Missing, "what-if": r.WhatIf.Missing, "growth": r.Growth.Missing,
				"database": r.Database.Missing, "cost": r.Cost.Missing, "topology": r.Topology.Missing}
			for _, name := range tt.missing {
				if got[name] == "" {
					t.Errorf("section %s does not say its input is missing", name)
				}
				delete(got, name)
			}
			for name, m := range got {
				if m != "" {
					t.Errorf("section %s says %q but its input was given", name, m)
				}
			}
		})
	}
}

func TestBuildVerdicts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Inputs)
		want   string
	}{
		{"as designed", func(*Inputs) {}, VerdictCarries},
		{"load test missed the objective", func(in *Inputs) { in.Result.SLO.Passed = false }, VerdictDoesNotCarry},
		{"model misses the objective", func(in *Inputs) { in.Estimate.MeetsSLO = false }, VerdictDoesNotCarry},
		{"generator fell short of the rate", func(in *Inputs) { in.Result.AchievedRate = 180 }, VerdictAtRisk},
		{"little headroom", func(in *Inputs) { in.Estimate.Tiers[1].Utilization = 0.85 }, VerdictAtRisk},
		{"saturated", func(in *Inputs) {
			in.Estimate.Tiers[1].Utilization, in.Estimate.Tiers[1].Overloaded = 1.2, true
			in.Estimate.EndToEnd.Unbounded = true
		}, VerdictDoesNotCarry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixtures()[0].in
			tt.change(&in)
			r, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Summary.Verdict != tt.want {
				t.Errorf("verdict = %s, want %s (%s)", r.Summary.Verdict, tt.want, r.Summary.Paragraph)
			}
		})
	}
}

func TestOverloadedTier(t *testing.T) {
	in := fixtures()[0].in
	in.Estimate.Tiers[1].Utilization, in.Estimate.Tiers[1].Overloaded = 1.2, true
	in.Estimate.EndToEnd.Unbounded = true
	in.AtTestRate.EndToEnd.Unbounded = true
	r, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Measured.PredictedAt != 0 || r.Measured.PredictedP95Ms != 0 {
		t.Errorf("measured compares with a prediction the model cannot make: %+v", r.Measured)
	}
	if len(r.Risks) == 0 || r.Risks[0].Level != "high" || !strings.Contains(r.Risks[0].Risk, "api is overloaded") {
		t.Errorf("risks do not lead with the overloaded api tier: %+v", r.Risks)
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "**overloaded**") || !strings.Contains(md.String(), "predicts no end-to-end latency") {
		t.Errorf("report.md does not say the api tier is overloaded:\n%s", md.String())
	}
}

func TestBuildRequiresPlanName(t *testing.T) {
	in := fixtures()[0].in
	in.Plan.Name = " "
	_, err := Build(in)
	var e *crmplan.Error
	if !errors.As(err, &e) || e.Code != crmplan.EINVALID || e.Field != "name" {
		t.Fatalf("Build with no plan name = %v, want EINVALID at name", err)
	}
}

func TestRisksNameAsyncReplication(t *testing.T) {
	r, err := Build(fixtures()[1].in)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, k := range r.Risks {
		text = append(text, k.Risk)
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{"Asynchronous replication can lose the last transactions", "not been load-tested", "default price table"} {
		if !strings.Contains(all, want) {
			t.Errorf("risks do not mention %q:\n%s", want, all)
		}
	}
}

// externalRef finds anything in a page that makes a browser fetch something:
// a URL in src, href or url(), an @import, a script or a link element.
// A reference within the page (href="#risks", url(#topo-arrow)) fetches nothing.
var externalRef = regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)|url\(\s*["']?\s*[^#\s"']|@import|<script|<link|<iframe|<object|<embed`)

// svgNamespace is the one absolute URL an SVG may carry: a name, never fetched.
var svgNamespace = regexp.MustCompile(`xmlns(?::\w+)?="http://www\.w3\.org/[^"]*"`)

func externalRefs(page string) []string {
	page = svgNamespace.ReplaceAllString(page, "")
	refs := externalRef.FindAllString(page, -1)
	if loc := regexp.MustCompile(`(?i)https?://\S{0,40}`).FindAllString(page, -1); loc != nil {
		refs = append(refs, loc...)
	}
	return refs
}

func TestExternalRefsDetects(t *testing.T) {
	tests := []struct {
		name string
		page string
		want bool
	}{
		{"clean", `<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg><a href="#risks">x</a>`, false},
		{"image", `<img src="https://cdn.example/x.png">`, true},
		{"protocol-relative", `<img src=//cdn.example/x.png>`, true},
		{"stylesheet", `<link rel="stylesheet" href="style.css">`, true},
		{"css url", `<style>body{background:url(x.png)}</style>`, true},
		{"quoted css url", `<style>body{background:url( "data:image/png;base64,AAAA")}</style>`, true},
		{"marker in the page", `<path marker-end="url(#topo-arrow)"/>`, false},
		{"import", `<style>@import "fonts.css";</style>`, true},
		{"script", `<script>fetch("/x")</script>`, true},
		{"bare url in text", `see http://example.com`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(externalRefs(tt.page)) > 0; got != tt.want {
				t.Errorf("externalRefs(%q) = %v, want found=%v", tt.page, externalRefs(tt.page), tt.want)
			}
		})
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	for _, fx := range fixtures() {
		t.Run(fx.name, func(t *testing.T) {
			r, err := Build(fx.in)
			if err != nil {
				t.Fatal(err)
			}
			var page bytes.Buffer
			if err := WriteHTML(&page, r); err != nil {
				t.Fatal(err)
			}
			if refs := externalRefs(page.String()); len(refs) > 0 {
				t.Errorf("report.html references outside resources: %q", refs)
			}
			for _, want := range []string{r.Summary.Paragraph, "Workload derivation", "Assumptions and risks"} {
				if !strings.Contains(page.String(), htmlText(want)) {
					t.Errorf("report.html lacks %q", want)
				}
			}
			if fx.name == "full" && (!strings.Contains(page.String(), `<td class="n">&lt; 1,000 ms met</td>`) ||
				!strings.Contains(page.String(), "The measured stack held 25,000,000 records")) {
				t.Error("report.html lacks the report class's own objective or the stack's records")
			}
			if fx.name == "full" && !strings.Contains(page.String(), `<td>Pool of the api tier (the same up to 31 servers)</td><td class="n">62: 20 on each of 3</td>`) {
				t.Error("report.html lacks the api tier's pool")
			}
			if fx.name == "generators" && !strings.Contains(page.String(), "<td>loadgen-3</td><td>2/3:1</td>") {
				t.Error("report.html lacks the lost generator's row")
			}
			charts := strings.Count(page.String(), `<svg class="chart"`)
			if want := map[string]int{"full": 7, "sized": 4, "plan-only": 0, "chaos": 8, "probed": 7, "generators": 7}[fx.name]; charts != want {
				t.Errorf("report.html has %d charts, want %d", charts, want)
			}
		})
	}
}

// htmlText escapes s the way html/template writes text, for Contains checks.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}
