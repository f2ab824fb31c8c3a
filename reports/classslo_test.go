package reports

import (
	"reflect"
	"testing"
)

func TestRecordsNote(t *testing.T) {
	tests := []struct {
		name string
		s    MeasuredSection
		want string
	}{
		{"the plan's records", MeasuredSection{SeededRecords: 25_000_000, PlanRecords: 25_000_000}, "The measured stack held 25,000,000 records, the plan's 25,000,000."},
		{"fewer", MeasuredSection{SeededRecords: 2_500_000, PlanRecords: 25_000_000},
			"The measured stack held 2,500,000 records, 10% of the plan's 25,000,000: queries that read more rows at full scale are slower than measured here."},
		{"not deployed", MeasuredSection{PlanRecords: 25_000_000}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recordsNote(tt.s); got != tt.want {
				t.Errorf("recordsNote = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClassSLORows(t *testing.T) {
	yes, no := true, false
	got := classSLORows([]Class{
		{Name: "list", P95Ms: 104, SLOP95Ms: 500, SLOPassed: &yes},
		{Name: "report", P95Ms: 593, SLOP95Ms: 500, SLOPassed: &no},
		{Name: "view", P95Ms: 12}, // a result from before classes were judged
	})
	want := [][]string{{"list", fmtMs(104), "< " + fmtMs(500), "met"}, {"report", fmtMs(593), "< " + fmtMs(500), "**MISSED**"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}
