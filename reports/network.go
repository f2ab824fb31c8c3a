package reports

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// missingProbe is the network policy section's sentence for a stack never probed.
const missingProbe = "the stack's network policy was never probed: run crmplan probe --plan PLAN.yaml"

// notIsolated is the note for a probe of a stack that does not enforce its links.
const notIsolated = "this stack shares one network, so every pair gets through whatever the links say: enforce them with crmplan apply --isolate --plan PLAN.yaml, then crmplan probe --plan PLAN.yaml"

// NetworkSection is crmplan probe's last matrix: for every ordered pair of
// hosts and every port the topology knows, whether the links allow it
// (planned) and whether a connect from inside the source host got through
// (measured).
type NetworkSection struct {
	Missing    string `json:"missing,omitempty"`
	MeasuredAt string `json:"measured_at,omitempty"`
	Target     string `json:"target,omitempty"`
	// Isolated says whether the stack enforces its links (apply --isolate);
	// Note what to do when it does not.
	Isolated bool   `json:"isolated"`
	Note     string `json:"note,omitempty"`
	// Stale: the stack was applied again after the probe (at AppliedAt),
	// so the matrix may not show the network as deployed now.
	Stale       bool          `json:"stale,omitempty"`
	AppliedAt   string        `json:"applied_at,omitempty"`
	Ports       []int         `json:"ports"`
	Cells       int           `json:"cells"`
	AsPlanned   int           `json:"as_planned"`
	Differences int           `json:"differences"`
	Hosts       []string      `json:"hosts"` // the matrix's rows and columns, in the inventory's order
	Matrix      []NetworkRow  `json:"matrix"`
	Diffs       []NetworkDiff `json:"diffs"`
}

// NetworkRow is one source host: per destination (Hosts' order) the cell's
// text, as matrixCell writes it.
type NetworkRow struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

// NetworkDiff is one probe whose measurement differs from the plan.
type NetworkDiff struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Port     int    `json:"port"`
	Planned  string `json:"planned"` // allowed or denied
	Measured string `json:"measured"`
}

// networkLegend explains the matrix's cells, the same in HTML and Markdown.
const networkLegend = "Rows are the source host, columns the destination; a cell lists the ports a connection from inside the source host got through on. " +
	"A port marked ! differs from the plan: listed with ! it was reached though no link allows it, crossed out (✗) a link allows it but it was not reached; – nothing reached, nothing planned."

func networkSection(in Inputs) NetworkSection {
	p := in.Probe
	if p == nil {
		return NetworkSection{Missing: missingProbe}
	}
	s := NetworkSection{Target: p.Target, Isolated: p.Isolated(), Ports: p.Ports, Cells: len(p.Cells),
		Hosts: []string{}, Matrix: []NetworkRow{}, Diffs: []NetworkDiff{}}
	if s.Ports == nil {
		s.Ports = []int{}
	}
	if !p.MeasuredAt.IsZero() {
		s.MeasuredAt = p.MeasuredAt.UTC().Format(time.RFC3339)
	}
	if !s.Isolated {
		s.Note = notIsolated
	}
	if inv := in.Inventory; inv != nil && !p.MeasuredAt.IsZero() && inv.AppliedAt.After(p.MeasuredAt) {
		s.Stale, s.AppliedAt = true, inv.AppliedAt.UTC().Format(time.RFC3339)
	}
	col := map[string]int{}
	add := func(h string) {
		if _, ok := col[h]; !ok {
			col[h] = len(s.Hosts)
			s.Hosts = append(s.Hosts, h)
		}
	}
	for _, c := range p.Cells {
		add(c.From)
		add(c.To)
	}
	// ports[from][to] are the cell's parts in the probe's (port) order.
	parts := make([][][]string, len(s.Hosts))
	for i := range parts {
		parts[i] = make([][]string, len(s.Hosts))
	}
	for _, c := range p.Cells {
		if c.Match {
			s.AsPlanned++
		} else {
			s.Differences++
			planned := "denied"
			if c.Planned {
				planned = "allowed"
			}
			s.Diffs = append(s.Diffs, NetworkDiff{From: c.From, To: c.To, Port: c.Port, Planned: planned, Measured: c.Measured})
		}
		if part := matrixPort(c.Port, c.Planned, c.Reached); part != "" {
			i, j := col[c.From], col[c.To]
			parts[i][j] = append(parts[i][j], part)
		}
	}
	for i, from := range s.Hosts {
		row := NetworkRow{From: from, To: make([]string, len(s.Hosts))}
		for j := range s.Hosts {
			switch {
			case i == j:
				row.To[j] = "·"
			case len(parts[i][j]) == 0:
				row.To[j] = "–"
			default:
				row.To[j] = strings.Join(parts[i][j], " ")
			}
		}
		s.Matrix = append(s.Matrix, row)
	}
	return s
}

// matrixPort is one port's part of a matrix cell: the port when it was
// reached as planned, with ! when reached unplanned, ✗ and ! when planned
// but not reached, nothing when neither.
func matrixPort(port int, planned, reached bool) string {
	p := strconv.Itoa(port)
	switch {
	case reached && planned:
		return p
	case reached:
		return p + "!"
	case planned:
		return "✗" + p + "!"
	}
	return ""
}

// networkText is the sentence above the matrix, the same in HTML and Markdown.
func networkText(s NetworkSection) string {
	isolated := "isolated: the router enforces the links"
	if !s.Isolated {
		isolated = "not isolated"
	}
	ports := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		ports[i] = strconv.Itoa(p)
	}
	text := fmt.Sprintf("Probed %s on the %s target (%s): %s probes (%d hosts to each other on ports %s), %s as planned, %s differ from the plan.",
		orNone(s.MeasuredAt), orNone(s.Target), isolated, fmtInt(int64(s.Cells)), len(s.Hosts), strings.Join(ports, ", "),
		fmtInt(int64(s.AsPlanned)), fmtInt(int64(s.Differences)))
	if s.Stale {
		text += fmt.Sprintf(" The stack was applied again since (%s): this probe may be stale.", s.AppliedAt)
	}
	return text
}

// network writes the probe's section: the sentence, the matrix and every difference.
func (m *mdWriter) network(s NetworkSection) {
	if !m.section("Network policy", s.Missing) {
		return
	}
	m.p("%s", networkText(s))
	if s.Note != "" {
		m.p("\n> **Note:** %s", s.Note)
	}
	m.p("\n%s\n", networkLegend)
	head := append([]string{"From \\ to"}, s.Hosts...)
	rows := [][]string{}
	for _, r := range s.Matrix {
		rows = append(rows, append([]string{r.From}, r.To...))
	}
	m.table(head, rows)
	if len(s.Diffs) == 0 {
		return
	}
	m.p("\nEvery difference:\n")
	rows = [][]string{}
	for _, d := range s.Diffs {
		rows = append(rows, []string{d.From, d.To, strconv.Itoa(d.Port), d.Planned, d.Measured})
	}
	m.table([]string{"From", "To", ">Port", "Planned", "Measured"}, rows)
}

// networkRisks are what the probe says against the plan: connections that
// differ from the links, and a probe older than the last apply.
func networkRisks(s NetworkSection) []Risk {
	var out []Risk
	if s.Missing != "" {
		return nil
	}
	if n := s.Differences; n > 0 {
		d := s.Diffs[0]
		example := fmt.Sprintf("%s -> %s:%d planned %s, measured %s", d.From, d.To, d.Port, d.Planned, d.Measured)
		if s.Isolated {
			out = append(out, Risk{"high", fmt.Sprintf("The network policy does not hold: %d of %d probes differ from the plan's links (%s).", n, s.Cells, example),
				"Read the network policy section's differences; apply again (crmplan apply --isolate --plan PLAN.yaml), then crmplan probe --plan PLAN.yaml."})
		} else {
			out = append(out, Risk{"medium", fmt.Sprintf("The stack does not enforce its links: %d of %d probes differ from the plan (%s).", n, s.Cells, example),
				"Enforce the links with crmplan apply --isolate --plan PLAN.yaml, then crmplan probe --plan PLAN.yaml."})
		}
	}
	if s.Stale {
		out = append(out, Risk{"medium", fmt.Sprintf("The network probe (%s) is older than the last apply (%s): it may not show the network as deployed now.", s.MeasuredAt, s.AppliedAt),
			"Run crmplan probe --plan PLAN.yaml again."})
	}
	return out
}
