package reports

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/crmplan/crmplan/loadgen"
)

// missingChaos is the availability section's sentence for a load test that
// injected no fault.
const missingChaos = "the load test injected no fault: run crmplan verify --plan PLAN.yaml --chaos kill:app-1@30s,kill:db-primary@60s"

// AvailabilitySection is what a chaos run (crmplan verify --chaos) cost:
// per fault the failed requests, how long until none failed (RTO) and the
// acknowledged writes lost (RPO), over a per-second timeline.
type AvailabilitySection struct {
	Missing  string           `json:"missing,omitempty"`
	Faults   []FaultRow       `json:"faults"`
	Timeline []loadgen.Second `json:"timeline"`
	Requests int64            `json:"requests"`
	Failed   int64            `json:"failed"`
	// FailedInFaults are the failures from a fault to the next one;
	// FailedOutside the rest, which no fault explains.
	FailedInFaults int64            `json:"failed_in_fault_windows"`
	FailedOutside  int64            `json:"failed_outside_fault_windows"`
	FailedByMethod map[string]int64 `json:"failed_by_method"`
	// LedgerChecked says whether the acknowledged writes were read back;
	// LedgerNote why not when they were not.
	LedgerChecked bool   `json:"ledger_checked"`
	LedgerNote    string `json:"ledger_note,omitempty"`
	AckedWrites   int    `json:"acked_writes"`
	LostWrites    int    `json:"lost_writes"`
}

// FaultRow is one fault and what it cost.
type FaultRow struct {
	Fault          string           `json:"fault"`
	Host           string           `json:"host"`
	AtS            float64          `json:"at_s"`
	Error          string           `json:"error,omitempty"` // why it was not injected
	FailedByClass  map[string]int64 `json:"failed_by_class"`
	FailedSeconds  string           `json:"failed_seconds"` // "31-33, 40"
	RTOS           float64          `json:"rto_s"`
	Recovered      bool             `json:"recovered"`
	LostWrites     int              `json:"lost_writes"`
	FailedRequests int64            `json:"failed_requests"`
}

// RTO is the fault's time to recover as the report prints it.
func (f FaultRow) RTO() string {
	switch {
	case f.Error != "":
		return "not injected"
	case !f.Recovered:
		return "not recovered"
	}
	return fmtNum(f.RTOS, 1) + " s"
}

// Classes lists the failed requests per class: "write 12, list 3".
func (f FaultRow) Classes() string {
	var parts []string
	for _, c := range sortedClasses(f.FailedByClass) {
		parts = append(parts, fmt.Sprintf("%s %s", c, fmtInt(f.FailedByClass[c])))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sortedClasses(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func availabilitySection(in Inputs) AvailabilitySection {
	res := in.Result
	if res == nil {
		return AvailabilitySection{Missing: missingResult}
	}
	a := res.Availability
	if a == nil {
		return AvailabilitySection{Missing: missingChaos}
	}
	s := AvailabilitySection{Timeline: a.Timeline, FailedInFaults: a.FailedInFaults, FailedOutside: a.FailedOutside,
		FailedByMethod: a.FailedByMethod, LedgerChecked: a.Ledger.Checked, LedgerNote: a.Ledger.Note,
		AckedWrites: a.Ledger.Acked, LostWrites: a.Ledger.Lost}
	if s.FailedByMethod == nil {
		s.FailedByMethod = map[string]int64{}
	}
	for _, sec := range a.Timeline {
		s.Requests += sec.Requests
		s.Failed += sec.Failed
	}
	for _, f := range a.Faults {
		row := FaultRow{Fault: f.Fault, Host: f.Host, AtS: f.AtS, Error: f.Error, FailedByClass: f.Failed,
			FailedSeconds: secondRanges(f.FailedSeconds), RTOS: f.RTOS, Recovered: f.Recovered, LostWrites: f.LostWrites}
		if row.FailedByClass == nil {
			row.FailedByClass = map[string]int64{}
		}
		for _, n := range f.Failed {
			row.FailedRequests += n
		}
		s.Faults = append(s.Faults, row)
	}
	return s
}

// secondRanges is loadgen.SecondsText with a word for none.
func secondRanges(secs []int) string {
	if len(secs) == 0 {
		return "none"
	}
	return loadgen.SecondsText(secs)
}

// availabilityChart draws requests and failed requests per second, with a
// vertical line at each fault.
func availabilityChart(s AvailabilitySection) template.HTML {
	reqs := series{Name: "requests/s", Color: colMeasured, Step: true}
	failed := series{Name: "failed requests/s", Color: colLimit, Step: true}
	for _, sec := range s.Timeline {
		reqs.Points = append(reqs.Points, xy{float64(sec.T), float64(sec.Requests)})
		failed.Points = append(failed.Points, xy{float64(sec.T), float64(sec.Failed)})
	}
	c := lineChart{Title: "Requests and failures per second, faults marked", XLabel: "time since the first request",
		YLabel: "requests/s", Series: []series{reqs, failed}, XFmt: secAxis, YFmt: numAxis, YFromZero: true, Wide: true}
	for _, f := range s.Faults {
		if f.Error == "" {
			c.VGuides = append(c.VGuides, guide{Label: f.Fault, Value: f.AtS, Color: colTarget})
		}
	}
	return c.svg()
}

// availability writes the chaos run's section: a table of faults, then
// the failures the faults do not explain and the write ledger.
func (m *mdWriter) availability(s AvailabilitySection) {
	if !m.section("Availability under faults", s.Missing) {
		return
	}
	rows := [][]string{}
	for _, f := range s.Faults {
		lost := "not checked"
		if s.LedgerChecked {
			lost = fmt.Sprint(f.LostWrites)
		}
		if f.Error != "" {
			rows = append(rows, []string{f.Fault, orNone(f.Host), fmtNum(f.AtS, 1), "not injected: " + f.Error, "", f.RTO(), ""})
			continue
		}
		rows = append(rows, []string{f.Fault, f.Host, fmtNum(f.AtS, 1), f.Classes(), f.FailedSeconds, f.RTO(), lost})
	}
	m.table([]string{"Fault", "Host", ">At (s)", "Failed requests", "Failing seconds", ">RTO", ">Writes lost (RPO)"}, rows)
	m.p("\n%s", availabilityText(s))
}

// availabilityText is the sentence under the fault table, the same in
// HTML and Markdown.
func availabilityText(s AvailabilitySection) string {
	var methods []string
	for _, k := range sortedClasses(s.FailedByMethod) {
		methods = append(methods, fmt.Sprintf("%s %s", k, fmtInt(s.FailedByMethod[k])))
	}
	by := "none"
	if len(methods) > 0 {
		by = strings.Join(methods, ", ")
	}
	t := fmt.Sprintf("%s of %s requests failed (by method: %s): %s in fault windows (from a fault to the next), %s outside them, which the load test's error rate counts all the same.",
		fmtInt(s.Failed), fmtInt(s.Requests), by, fmtInt(s.FailedInFaults), fmtInt(s.FailedOutside))
	if s.LedgerChecked {
		t += fmt.Sprintf(" Write ledger: %s creates acknowledged, %s of them missing from the database afterwards.",
			fmtInt(int64(s.AckedWrites)), fmtInt(int64(s.LostWrites)))
	} else {
		t += fmt.Sprintf(" Write ledger: %s creates acknowledged, not read back (%s).", fmtInt(int64(s.AckedWrites)), s.LedgerNote)
	}
	return t
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
