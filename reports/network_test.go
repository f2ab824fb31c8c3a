package reports

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/stackdir"
)

func TestNetworkSection(t *testing.T) {
	tests := []struct {
		name     string
		probe    *stackdir.ProbeResult
		planPath string
		missing  string // a part of the Missing sentence; "" when the section stands
		isolated bool
		note     string // a part of the Note; "" for none
		counts   [3]int // cells, as planned, differences
		matrix   []NetworkRow
		diffs    []NetworkDiff
		inMD     []string // lines the Markdown holds
		inHTML   []string
	}{
		{name: "never probed", missing: "run crmplan probe --plan PLAN.yaml",
			inMD: []string{"### Network policy", "> **Missing:** the stack's network policy was never probed: run crmplan probe --plan PLAN.yaml"}},
		{name: "never probed, plan named", planPath: "examples/simplecrm.yaml", missing: "run crmplan probe --plan examples/simplecrm.yaml"},
		{name: "isolated, as planned", probe: seedProbe("netns", nil), isolated: true, counts: [3]int{12, 12, 0},
			matrix: []NetworkRow{{"web-1", []string{"·", "8080", "–"}}, {"api-1", []string{"–", "·", "5432"}}, {"db-primary-1", []string{"–", "–", "·"}}},
			diffs:  []NetworkDiff{},
			inMD: []string{"Probed 2026-03-02T08:30:00Z on the netns target (isolated: the router enforces the links): 12 probes (3 hosts to each other on ports 5432, 8080), 12 as planned, 0 differ from the plan.",
				"| From \\ to | web-1 | api-1 | db-primary-1 |", "| web-1 | · | 8080 | – |"},
			inHTML: []string{`<tr><th>api-1</th><td>–</td><td>·</td><td>5432</td></tr>`}},
		{name: "isolated, a denied pair got through and a link was blocked",
			probe:    seedProbe("netns", map[string]bool{"web-1>db-primary-1:5432": true, "api-1>db-primary-1:5432": true}),
			isolated: true, counts: [3]int{12, 10, 2},
			matrix: []NetworkRow{{"web-1", []string{"·", "8080", "5432!"}}, {"api-1", []string{"–", "·", "✗5432!"}}, {"db-primary-1", []string{"–", "–", "·"}}},
			diffs: []NetworkDiff{{From: "web-1", To: "db-primary-1", Port: 5432, Planned: "denied", Measured: "open"},
				{From: "api-1", To: "db-primary-1", Port: 5432, Planned: "allowed", Measured: "denied"}},
			inMD:   []string{"| web-1 | db-primary-1 | 5432 | denied | open |", "| api-1 | – | · | ✗5432! |"},
			inHTML: []string{`<td>web-1</td><td>db-primary-1</td><td class="n">5432</td><td>denied</td><td>open</td>`}},
		{name: "loopback target", planPath: "p.yaml", probe: seedProbe("local", map[string]bool{"db-primary-1>web-1:8080": true}),
			note: "crmplan apply --isolate --plan p.yaml", counts: [3]int{12, 11, 1},
			matrix: []NetworkRow{{"web-1", []string{"·", "8080", "–"}}, {"api-1", []string{"–", "·", "5432"}}, {"db-primary-1", []string{"8080!", "–", "·"}}},
			diffs:  []NetworkDiff{{From: "db-primary-1", To: "web-1", Port: 8080, Planned: "denied", Measured: "open"}},
			inMD:   []string{"on the local target (not isolated)", "> **Note:** this stack shares one network"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixtures()[0].in
			in.Probe, in.PlanPath = tt.probe, tt.planPath
			r, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			s := r.Network
			if tt.missing == "" && s.Missing != "" || !strings.Contains(s.Missing, tt.missing) {
				t.Errorf("Missing = %q, want it to hold %q", s.Missing, tt.missing)
			}
			if s.Isolated != tt.isolated || tt.note == "" && s.Note != "" || !strings.Contains(s.Note, tt.note) {
				t.Errorf("isolated %v, note %q; want %v, %q", s.Isolated, s.Note, tt.isolated, tt.note)
			}
			if got := [3]int{s.Cells, s.AsPlanned, s.Differences}; got != tt.counts {
				t.Errorf("cells, as planned, differences = %v, want %v", got, tt.counts)
			}
			if tt.missing == "" && (!reflect.DeepEqual(s.Matrix, tt.matrix) || !reflect.DeepEqual(s.Diffs, tt.diffs)) {
				t.Errorf("matrix = %v, diffs = %+v; want %v, %+v", s.Matrix, s.Diffs, tt.matrix, tt.diffs)
			}
			var md, page bytes.Buffer
			if err := WriteMarkdown(&md, r); err != nil {
				t.Fatal(err)
			}
			if err := WriteHTML(&page, r); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.inMD {
				if !strings.Contains(md.String(), want) {
					t.Errorf("Markdown lacks %q:\n%s", want, md.String())
				}
			}
			for _, want := range append(tt.inHTML, `id="network"`, "Network policy") {
				if !strings.Contains(page.String(), want) {
					t.Errorf("HTML lacks %q", want)
				}
			}
		})
	}
}

// TestGatherProbe: the report finds the matrix crmplan probe saved, and a
// damaged one is an error rather than a silently missing section.
func TestGatherProbe(t *testing.T) {
	plan := examplePlan(t, "../examples/simplecrm.yaml")
	tests := []struct {
		name    string
		write   func(t *testing.T, state string)
		want    *stackdir.ProbeResult
		wantErr bool
	}{
		{"never probed", func(*testing.T, string) {}, nil, false},
		{"probed", func(t *testing.T, state string) {
			p := *seedProbe("netns", nil)
			p.Stack = plan.Name
			if err := stackdir.SaveProbe(state, p); err != nil {
				t.Fatal(err)
			}
		}, func() *stackdir.ProbeResult { p := *seedProbe("netns", nil); p.Stack = plan.Name; return &p }(), false},
		{"damaged", func(t *testing.T, state string) {
			p := stackdir.Paths{StateDir: state, Stack: plan.Name}
			if err := os.MkdirAll(p.StackDir(), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p.ProbeResult(), []byte("not json"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			tt.write(t, state)
			in, err := Gather(plan, state, plan.Name, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Gather error = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(in.Probe, tt.want) {
				t.Errorf("Gather's probe = %+v, want %+v", in.Probe, tt.want)
			}
		})
	}
}

// TestNetworkRisks: the risk list names a probe that differs from the
// plan (high on an isolated stack, where the router should enforce the
// links; medium on a shared network) and a probe older than the last
// apply.
func TestNetworkRisks(t *testing.T) {
	probed := seedProbe("netns", nil).MeasuredAt
	tests := []struct {
		name      string
		probe     *stackdir.ProbeResult
		appliedAt time.Time
		want      []string // level: a part of the risk, in the list's order
	}{
		{"never probed", nil, probed.Add(time.Hour), nil},
		{"as planned, probed after the apply", seedProbe("netns", nil), probed.Add(-time.Minute), nil},
		{"as planned, no apply time", seedProbe("netns", nil), time.Time{}, nil},
		{"isolated, a pair differs", seedProbe("netns", map[string]bool{"web-1>db-primary-1:5432": true}), probed.Add(-time.Minute),
			[]string{"high: The network policy does not hold: 1 of 12 probes differ from the plan's links (web-1 -> db-primary-1:5432 planned denied, measured open)."}},
		{"shared network", seedProbe("local", map[string]bool{"db-primary-1>web-1:8080": true}), probed.Add(-time.Minute),
			[]string{"medium: The stack does not enforce its links: 1 of 12 probes differ"}},
		{"applied again after the probe", seedProbe("netns", nil), probed.Add(time.Minute),
			[]string{"medium: The network probe (2026-03-02T08:30:00Z) is older than the last apply (2026-03-02T08:31:00Z)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixtures()[0].in
			inv := *in.Inventory
			inv.AppliedAt = tt.appliedAt
			in.Inventory, in.Probe, in.PlanPath = &inv, tt.probe, "p.yaml"
			r, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range r.Risks {
				if strings.Contains(k.Risk, "probe") {
					got = append(got, k.Level+": "+k.Risk)
					if !strings.Contains(k.Action, "crmplan probe --plan p.yaml") {
						t.Errorf("risk %q: action %q does not say to probe again", k.Risk, k.Action)
					}
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("probe risks %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("risk %d = %q, want it to start %q", i, got[i], tt.want[i])
				}
			}
			if stale := r.Network.Stale; stale != strings.Contains(tt.name, "applied again") {
				t.Errorf("Network.Stale = %v", stale)
			}
		})
	}
}
