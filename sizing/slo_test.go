package sizing

import (
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

func TestClassP95Ms(t *testing.T) {
	s := SLO{P95Ms: 500, Classes: map[Class]ClassSLO{ClassReport: {P95Ms: 1000}}}
	tests := []struct {
		class   Class
		want    float64
		wantOwn bool
	}{
		{ClassReport, 1000, true},
		{ClassList, 500, false},
	}
	for _, tt := range tests {
		if got, own := s.ClassP95Ms(tt.class); got != tt.want || own != tt.wantOwn {
			t.Errorf("ClassP95Ms(%s) = %g, %v; want %g, %v", tt.class, got, own, tt.want, tt.wantOwn)
		}
	}
}

func TestValidateClassSLOs(t *testing.T) {
	tests := []struct {
		name      string
		classes   map[Class]ClassSLO
		wantField string
		wantMsg   string
	}{
		{"fine", map[Class]ClassSLO{ClassReport: {P95Ms: 1000}, ClassList: {P95Ms: 200}}, "", ""},
		{"unknown class", map[Class]ClassSLO{"reports": {P95Ms: 1000}}, "slo.classes.reports", `"reports" is not a request class`},
		{"zero", map[Class]ClassSLO{ClassReport: {}}, "slo.classes.report.p95_ms", "above 0, got 0"},
		{"negative", map[Class]ClassSLO{ClassView: {P95Ms: -1}}, "slo.classes.view.p95_ms", "above 0, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := seed000()
			m.SLO.Classes = tt.classes
			_, err := Size(m)
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if crmplan.ErrorCode(err) != crmplan.EINVALID || !strings.Contains(err.Error(), tt.wantField) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v ; want %q at %s", err, tt.wantMsg, tt.wantField)
			}
			if crmplan.ErrorHint(err) == "" {
				t.Errorf("err %v has no hint", err)
			}
		})
	}
}
