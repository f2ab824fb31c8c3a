package api

import (
	"fmt"
	"strings"
	"testing"
)

// The contacts export takes the list's search and filters, keeps the owner
// rule, and refuses paging.
func TestExportContactsFiltered(t *testing.T) {
	f := newFixture(t)
	rep1, rep2 := f.signIn(t, "rep1@example.com"), f.signIn(t, "rep2@example.com")
	acc := rep1.id("/api/v1/accounts", `{"name":"Export AS"}`)
	rep1.id("/api/v1/contacts", fmt.Sprintf(`{"first_name":"Ann","last_name":"Lee","account_id":%d}`, acc))
	rep1.id("/api/v1/contacts", `{"first_name":"Anna","last_name":"Berg"}`)
	rep1.id("/api/v1/contacts", `{"first_name":"Bob","last_name":"Stone"}`)
	rep2.id("/api/v1/contacts", `{"first_name":"Ann","last_name":"Other"}`)

	tests := []struct {
		name      string
		who       *client
		query     string
		wantCode  int
		wantNames []string
	}{
		{"everything visible", rep1, "", 200, []string{"Ann,Lee", "Anna,Berg", "Bob,Stone"}},
		{"search prefix", rep1, "?q=ann", 200, []string{"Ann,Lee", "Anna,Berg"}},
		{"account filter", rep1, fmt.Sprintf("?account_id=%d", acc), 200, []string{"Ann,Lee"}},
		{"search and filter", rep1, fmt.Sprintf("?q=bob&account_id=%d", acc), 200, nil},
		{"another owner's contacts stay out", rep2, "?q=ann", 200, []string{"Ann,Other"}},
		{"no pages", rep1, "?limit=10", 400, nil},
		{"fixed columns", rep1, "?fields=id,email", 400, nil},
		{"bad search", rep1, "?q=%20%2C", 400, nil},
		{"unknown parameter", rep1, "?stage=won", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := tt.who.do("GET", "/api/v1/export/contacts"+tt.query, "")
			if code != tt.wantCode {
				t.Fatalf("%d %s, want %d", code, body, tt.wantCode)
			}
			if code != 200 {
				return
			}
			lines := strings.Split(strings.TrimSpace(body), "\n")
			var got []string
			for _, l := range lines[1:] {
				cells := strings.Split(l, ",")
				got = append(got, cells[1]+","+cells[2])
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantNames) {
				t.Errorf("exported %q, want %q", got, tt.wantNames)
			}
		})
	}
}
