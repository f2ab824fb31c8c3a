package topology

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// EditDemands returns the plan file data with the service demands of some
// tiers replaced: specs maps a tier's index in the plan to the spec it
// should have, of which only Demand is written (and, for a tier that took
// its role's demands until now, the role defaults that giving it its own
// demands would drop: see below). filename only names the file in errors.
//
// It edits the text, it does not re-encode the document: every byte
// outside the numbers it changes and the keys it adds stays as it was, so
// the plan's comments, order, quoting, flow or block style and blank lines
// survive, and a diff of the two files shows exactly what changed.
//
//   - A tier with a demand_ms mapping gets each class's number replaced in
//     place (a class the spec adds is appended to the mapping, one it drops
//     is left alone: calibration scales the demands a tier has).
//   - A tier without one gets "demand_ms: {...}" after its last key, in the
//     tier's own style. A tier with its own demands no longer takes its
//     role's ha, min and max_servers (sizing.Model.WithDefaults), so the
//     edited plan is decoded, and where it lost one of the spec's, the key
//     is added after demand_ms. The result must give every edited tier the
//     spec's demands, ha, min and max servers, or nothing is returned.
//
// Errors: EINVALID for a file DecodePlan rejects, an index past the plan's
// tiers, or a tier whose demand_ms is not a mapping; EINTERNAL when the
// edited file would not say what specs do.
func EditDemands(filename string, data []byte, specs map[int]sizing.TierSpec) ([]byte, error) {
	if _, err := DecodePlan(filename, data); err != nil {
		return nil, err
	}
	tiers, err := tierNodes(filename, data)
	if err != nil {
		return nil, err
	}
	// First the demands alone; then, decoded, the role defaults the new
	// demands dropped are added back where the first pass lost one.
	extra := map[int][]string{}
	for pass := 0; pass < 2; pass++ {
		var ed textEdits
		for _, i := range slices.Sorted(maps.Keys(specs)) {
			if i < 0 || i >= len(tiers) {
				return nil, crmplan.Errorf(crmplan.EINVALID, "the plan has %d tiers, no tiers[%d]", len(tiers), i).
					In(filename).Try("crmplan calibrate --plan %s   # with a result of a stack applied from this plan", filename)
			}
			if err := ed.tier(data, tiers[i], specs[i], extra[i]); err != nil {
				return nil, crmplan.Errorf(crmplan.EINVALID, "%v", err).In(fmt.Sprintf("%s: tiers[%d]", filename, i)).
					Try("write the tier's demand_ms as a mapping, e.g. demand_ms: {list: 12, view: 8}")
			}
		}
		out := ed.apply(data)
		p, err := DecodePlan(filename, out)
		if err != nil {
			return nil, crmplan.Errorf(crmplan.EINTERNAL, "the edited plan does not decode: %w", err).In(filename)
		}
		lost := lostDefaults(p.Model(), specs)
		if len(lost) == 0 {
			return out, checkEdited(filename, p.Model(), specs)
		}
		extra = lost
	}
	return nil, crmplan.Errorf(crmplan.EINTERNAL, "cannot keep the tiers' ha, min and max_servers while editing their demands").In(filename)
}

// lostDefaults returns, per edited tier of m that does not have its spec's
// ha, min or max servers, the "key: value" pairs that restore them.
func lostDefaults(m sizing.Model, specs map[int]sizing.TierSpec) map[int][]string {
	lost := map[int][]string{}
	for i, want := range specs {
		got := m.Tiers[i]
		if got.HA != want.HA {
			lost[i] = append(lost[i], fmt.Sprintf("ha: %v", want.HA))
		}
		if got.Min != want.Min {
			lost[i] = append(lost[i], fmt.Sprintf("min: %d", want.Min))
		}
		if got.MaxServers != want.MaxServers {
			lost[i] = append(lost[i], fmt.Sprintf("max_servers: %d", want.MaxServers))
		}
	}
	return lost
}

// tierNodes returns the mapping node of each tier of the plan file.
func tierNodes(filename string, data []byte) ([]*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil, crmplan.Errorf(crmplan.EINVALID, "not a plan file: %v", err).In(filename).
			Try("crmplan size --plan %s", filename)
	}
	seq := mapValue(doc.Content[0], "tiers")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil, crmplan.Errorf(crmplan.EINVALID, "the plan has no tiers list").In(filename).
			Try("crmplan size --plan %s", filename)
	}
	return seq.Content, nil
}

// mapValue is the value node of key in mapping m, nil when absent.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// textEdit replaces data[from:to] with text.
type textEdit struct {
	from, to int
	text     string
}

type textEdits []textEdit

// apply makes the edits, which must not overlap, on a copy of data.
func (ed textEdits) apply(data []byte) []byte {
	sort.Slice(ed, func(i, j int) bool { return ed[i].from < ed[j].from })
	var out bytes.Buffer
	at := 0
	for _, e := range ed {
		out.Write(data[at:e.from])
		out.WriteString(e.text)
		at = e.to
	}
	out.Write(data[at:])
	return out.Bytes()
}

// tier adds the edits that give tier node n the spec's demands, and the
// extra "key: value" pairs after them when it had no demands of its own.
func (ed *textEdits) tier(data []byte, n *yaml.Node, spec sizing.TierSpec, extra []string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("a tier is a mapping, this one is not")
	}
	dm := mapValue(n, "demand_ms")
	if dm == nil {
		ed.appendPairs(data, n, append([]string{"demand_ms: " + flowDemand(spec.Demand)}, extra...))
		return nil
	}
	if len(extra) > 0 {
		// A tier with demands already had no role defaults to lose.
		return fmt.Errorf("its ha, min or max_servers would change: %s", strings.Join(extra, ", "))
	}
	if dm.Kind != yaml.MappingNode {
		return fmt.Errorf("demand_ms is not a mapping of class to milliseconds")
	}
	ed.classNumbers(data, dm, spec.Demand)
	return nil
}

// classNumbers adds the edits that give mapping m (class: number) the
// values: each class's number replaced in place, a class m lacks appended.
func (ed *textEdits) classNumbers(data []byte, m *yaml.Node, values map[sizing.Class]float64) {
	var added []string
	for _, c := range sizing.Classes() {
		v, ok := values[c]
		if !ok {
			continue
		}
		if old := mapValue(m, string(c)); old != nil {
			from, to := scalarSpan(data, old)
			*ed = append(*ed, textEdit{from: from, to: to, text: formatNumber(v)})
			continue
		}
		added = append(added, fmt.Sprintf("%s: %s", c, formatNumber(v)))
	}
	ed.appendPairs(data, m, added)
}

// EditDelays returns the plan file data with workload.delay_ms giving
// each class in delay its number (sizing.Workload.DelayMs, which crmplan
// calibrate measures), edited as EditDemands edits a tier's demand_ms: a
// class's number replaced in place, a class the file lacks appended, a
// workload without delay_ms given "delay_ms: {...}" after its last key.
// Classes not in delay keep what the file says. Errors: EINVALID for a
// file DecodePlan rejects or whose workload or delay_ms is not a mapping;
// EINTERNAL when the edited file would not say what delay does.
func EditDelays(filename string, data []byte, delay map[sizing.Class]float64) ([]byte, error) {
	if _, err := DecodePlan(filename, data); err != nil {
		return nil, err
	}
	if len(delay) == 0 {
		return data, nil
	}
	w, err := workloadNode(filename, data)
	if err != nil {
		return nil, err
	}
	var ed textEdits
	switch dm := mapValue(w, "delay_ms"); {
	case dm == nil:
		ed.appendPairs(data, w, []string{"delay_ms: " + flowDemand(delay)})
	case dm.Kind != yaml.MappingNode:
		return nil, crmplan.Errorf(crmplan.EINVALID, "delay_ms is not a mapping of class to milliseconds").In(filename + ": workload.delay_ms").
			Try("write it as a mapping, e.g. delay_ms: {list: 1.2, view: 0.8}")
	default:
		ed.classNumbers(data, dm, delay)
	}
	out := ed.apply(data)
	p, err := DecodePlan(filename, out)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "the edited plan does not decode: %w", err).In(filename)
	}
	for c, v := range delay {
		if got := p.Workload.DelayMs[c]; got != v {
			return nil, crmplan.Errorf(crmplan.EINTERNAL, "the edited plan gives %s a delay of %v ms, want %v", c, got, v).
				In(filename + ": workload.delay_ms")
		}
	}
	return out, nil
}

// workloadNode is the plan file's workload mapping, for editing.
func workloadNode(filename string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil, crmplan.Errorf(crmplan.EINVALID, "not a plan file: %v", err).In(filename).
			Try("crmplan size --plan %s", filename)
	}
	w := mapValue(doc.Content[0], "workload")
	if w == nil || w.Kind != yaml.MappingNode || len(w.Content) == 0 {
		return nil, crmplan.Errorf(crmplan.EINVALID, "the plan's workload is not a mapping").In(filename + ": workload").
			Try("write the workload as a mapping, e.g. workload: {named_users: 3000, concurrency: 0.6, tpm: 5}")
	}
	return w, nil
}

// EditSCV returns the plan file data with workload.service_scv saying scv
// (sizing.Workload.ServiceSCV, which crmplan calibrate fits; 0 is the
// exponential), edited as EditDelays edits delay_ms: the number replaced
// in place, or "service_scv: N" added after the workload's last key. A
// file without the key is left as it is for 0; one with it gets 1, which
// says the same. Errors: EINVALID for a file DecodePlan rejects or whose
// workload is not a mapping; EINTERNAL when the edited file would not say
// scv.
func EditSCV(filename string, data []byte, scv float64) ([]byte, error) {
	if _, err := DecodePlan(filename, data); err != nil {
		return nil, err
	}
	w, err := workloadNode(filename, data)
	if err != nil {
		return nil, err
	}
	v := scv
	if v == 0 {
		v = 1
	}
	var ed textEdits
	switch old := mapValue(w, "service_scv"); {
	case old != nil && old.Kind == yaml.ScalarNode:
		from, to := scalarSpan(data, old)
		ed = append(ed, textEdit{from: from, to: to, text: formatNumber(v)})
	case scv == 0:
		return data, nil
	default:
		ed.appendPairs(data, w, []string{"service_scv: " + formatNumber(scv)})
	}
	out := ed.apply(data)
	p, err := DecodePlan(filename, out)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "the edited plan does not decode: %w", err).In(filename)
	}
	if got := sizing.Stages(p.Workload.ServiceSCV); got != sizing.Stages(scv) {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "the edited plan gives a service scv of %v, want %v", p.Workload.ServiceSCV, scv).
			In(filename + ": workload.service_scv")
	}
	return out, nil
}

// appendPairs adds "key: value" pairs after the last entry of mapping m:
// in a flow mapping as ", key: value" before its closing brace, in a block
// mapping as lines of their own at the mapping's indentation.
func (ed *textEdits) appendPairs(data []byte, m *yaml.Node, pairs []string) {
	if len(pairs) == 0 {
		return
	}
	last := lastNode(m)
	if m.Style&yaml.FlowStyle != 0 {
		last = m.Content[len(m.Content)-1]
	}
	_, end := scalarSpan(data, last)
	if last.Kind != yaml.ScalarNode {
		end = closingBracket(data, last)
	}
	if m.Style&yaml.FlowStyle != 0 {
		*ed = append(*ed, textEdit{from: end, to: end, text: ", " + strings.Join(pairs, ", ")})
		return
	}
	// End of the line the last entry ends on.
	nl := bytes.IndexByte(data[end:], '\n')
	at := len(data)
	if nl >= 0 {
		at = end + nl + 1
	}
	indent := strings.Repeat(" ", m.Content[0].Column-1)
	var b strings.Builder
	if nl < 0 {
		b.WriteByte('\n')
	}
	for _, p := range pairs {
		b.WriteString(indent + p + "\n")
	}
	*ed = append(*ed, textEdit{from: at, to: at, text: b.String()})
}

// lastNode is the node written last inside n: n itself for a scalar, the
// last value (recursively) of a mapping or sequence.
func lastNode(n *yaml.Node) *yaml.Node {
	for (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && len(n.Content) > 0 && n.Style&yaml.FlowStyle == 0 {
		n = n.Content[len(n.Content)-1]
	}
	return n
}

// closingBracket returns the offset just past the "}" or "]" closing the
// flow collection n.
func closingBracket(data []byte, n *yaml.Node) int {
	open, shut := byte('{'), byte('}')
	if n.Kind == yaml.SequenceNode {
		open, shut = '[', ']'
	}
	depth := 0
	for i := offset(data, n.Line, n.Column); i < len(data); i++ {
		switch data[i] {
		case open:
			depth++
		case shut:
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(data)
}

// scalarSpan returns the byte range scalar node n takes in data: its plain
// text, or its quotes and what is between them.
func scalarSpan(data []byte, n *yaml.Node) (from, to int) {
	from = offset(data, n.Line, n.Column)
	if from >= len(data) {
		return from, from
	}
	switch q := data[from]; q {
	case '"', '\'':
		for i := from + 1; i < len(data); i++ {
			switch {
			case q == '"' && data[i] == '\\':
				i++
			case data[i] == q && q == '\'' && i+1 < len(data) && data[i+1] == '\'':
				i++
			case data[i] == q:
				return from, i + 1
			}
		}
		return from, len(data)
	}
	return from, from + len(n.Value)
}

// offset converts a 1-based line and column (in characters) to a byte
// offset in data.
func offset(data []byte, line, col int) int {
	at := 0
	for l := 1; l < line; l++ {
		nl := bytes.IndexByte(data[at:], '\n')
		if nl < 0 {
			return len(data)
		}
		at += nl + 1
	}
	for c := 1; c < col && at < len(data); c++ {
		_, size := utf8.DecodeRune(data[at:])
		at += size
	}
	return at
}

// flowDemand writes a demand map as a flow mapping in the canonical class
// order, as longjump.yaml writes its own.
func flowDemand(d map[sizing.Class]float64) string {
	var parts []string
	for _, c := range sizing.Classes() {
		if v, ok := d[c]; ok {
			parts = append(parts, fmt.Sprintf("%s: %s", c, formatNumber(v)))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// checkEdited checks that every edited tier of m, the edited plan's model,
// has its spec's demands.
func checkEdited(filename string, m sizing.Model, specs map[int]sizing.TierSpec) error {
	for i, want := range specs {
		got := m.Tiers[i]
		for c, v := range want.Demand {
			if got.Demand[c] != v {
				return crmplan.Errorf(crmplan.EINTERNAL, "the edited plan gives %s %v ms, want %v", c, got.Demand[c], v).
					In(fmt.Sprintf("%s: tiers[%d].demand_ms", filename, i))
			}
		}
	}
	return nil
}
