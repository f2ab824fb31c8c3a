package provision

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/crmplan/crmplan"
)

// progress prints a line per resource as the engine reports it, and keeps
// what the summary and error reporting need.
type progress struct {
	w       io.Writer
	preview bool
	started map[string]time.Time
	counts  map[string]int
	// failures are the engine's error diagnostics, in order.
	failures []failure
}

type failure struct {
	resource string
	message  string
}

func newProgress(w io.Writer, preview bool) *progress {
	return &progress{w: w, preview: preview, started: map[string]time.Time{}, counts: map[string]int{}}
}

// consume reads events until the channel closes.
func (p *progress) consume(ch <-chan events.EngineEvent, done chan<- struct{}) {
	defer close(done)
	for ev := range ch {
		p.handle(ev.EngineEvent)
	}
}

func (p *progress) handle(ev apitype.EngineEvent) {
	switch {
	case ev.ResourcePreEvent != nil:
		m := ev.ResourcePreEvent.Metadata
		p.started[m.URN] = time.Now()
		if p.preview && visible(m) && (m.Op != apitype.OpRefresh || len(m.Diffs) > 0) {
			p.line(m, "")
		}
	case ev.ResOutputsEvent != nil:
		m := ev.ResOutputsEvent.Metadata
		// Refresh steps that found nothing changed are noise.
		if !p.preview && visible(m) && (m.Op != apitype.OpRefresh || len(m.Diffs) > 0) {
			took := ""
			if t, ok := p.started[m.URN]; ok && m.Op != apitype.OpSame {
				took = fmt.Sprintf(" (%.1fs)", time.Since(t).Seconds())
			}
			p.line(m, took)
		}
	case ev.ResOpFailedEvent != nil:
		m := ev.ResOpFailedEvent.Metadata
		if visible(m) {
			fmt.Fprintf(p.w, "  ! %-9s %s failed\n", m.Op, describe(m))
		}
	case ev.DiagnosticEvent != nil && ev.DiagnosticEvent.Severity == "error":
		d := ev.DiagnosticEvent
		p.failures = append(p.failures, failure{resource: resourceName(d.URN), message: strings.TrimSpace(d.Message)})
	case ev.DiagnosticEvent != nil && ev.DiagnosticEvent.Severity == "info" && ev.DiagnosticEvent.URN != "":
		// A resource's own progress while it works (the seed's rows/s).
		d := ev.DiagnosticEvent
		fmt.Fprintf(p.w, "    %s: %s\n", resourceName(d.URN), strings.TrimSpace(d.Message))
	}
}

// visible hides the stack and provider pseudo-resources.
func visible(m apitype.StepEventMetadata) bool {
	return !strings.HasPrefix(m.Type, "pulumi:")
}

var opWords = map[apitype.OpType]string{
	apitype.OpCreate: "created", apitype.OpUpdate: "updated", apitype.OpDelete: "deleted",
	apitype.OpReplace: "replaced", apitype.OpSame: "unchanged", apitype.OpCreateReplacement: "created",
	apitype.OpDeleteReplaced: "deleted", apitype.OpRefresh: "refreshed", apitype.OpRead: "read",
}

var previewWords = map[apitype.OpType]string{
	apitype.OpCreate: "+ create", apitype.OpUpdate: "~ update", apitype.OpDelete: "- delete",
	apitype.OpReplace: "+- replace", apitype.OpSame: "  same", apitype.OpCreateReplacement: "+ create",
	apitype.OpDeleteReplaced: "- delete",
}

func (p *progress) line(m apitype.StepEventMetadata, took string) {
	words := opWords
	if p.preview {
		words = previewWords
	}
	word, ok := words[m.Op]
	if !ok {
		word = string(m.Op)
	}
	p.counts[word]++
	why := ""
	if len(m.Diffs) > 0 && m.Op != apitype.OpSame {
		diffs := append([]string(nil), m.Diffs...)
		sort.Strings(diffs)
		why = " [" + strings.Join(diffs, ", ") + "]"
	}
	fmt.Fprintf(p.w, "  %-10s %s%s%s\n", word, describe(m), why, took)
}

// describe renders "CrmService api-1" from a step.
func describe(m apitype.StepEventMetadata) string {
	typ := m.Type
	if i := strings.LastIndex(typ, ":"); i >= 0 {
		typ = typ[i+1:]
	}
	return typ + " " + resourceName(m.URN)
}

// resourceName is the last segment of a URN.
func resourceName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// summary renders the engine's change counts, e.g. "3 created, 9 unchanged".
func summary(changes map[string]int, took time.Duration) string {
	names := map[string]string{
		"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced", "same": "unchanged",
	}
	var parts []string
	for _, op := range []string{"create", "update", "replace", "delete", "same"} {
		if n := changes[op]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, names[op]))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	return fmt.Sprintf("%s in %.1fs", strings.Join(parts, ", "), took.Seconds())
}

// Changed reports whether a change summary has anything but "same".
func Changed(changes map[string]int) bool {
	for op, n := range changes {
		if op != "same" && n > 0 {
			return true
		}
	}
	return false
}

// providerErrRe reads back what providerError encoded: "[code] message [try: hint]".
var providerErrRe = regexp.MustCompile(`\[([a-z_]+)\] (.*?)(?: \[try: (.*)\])?$`)

// asError turns the engine's failure diagnostics into one *crmplan.Error,
// keeping the code, the place and the hint a provider error carried.
func (p *progress) asError(cause error) error {
	for _, f := range p.failures {
		flat := strings.ReplaceAll(f.message, "\n", " ")
		if m := providerErrRe.FindStringSubmatch(flat); m != nil {
			e := crmplan.Errorf(m[1], "%s", m[2])
			if m[3] != "" {
				e = e.Try("%s", m[3])
			}
			return e
		}
	}
	for _, f := range p.failures {
		if f.resource != "" && !strings.Contains(f.message, "update failed") {
			return crmplan.Errorf(crmplan.EINTERNAL, "%s", f.message).In(f.resource).
				Try("crmplan status   # and the logs in the host's directory")
		}
	}
	return crmplan.Errorf(crmplan.EINTERNAL, "pulumi: %w", cause)
}
