package api

import (
	"encoding/json"
	"fmt"
	"testing"
)

// The contact and deal pages list the activities linked to them; the
// filters keep the owner rule (rep2 sees none of rep1's).
func TestActivitiesByContactAndDeal(t *testing.T) {
	f := newFixture(t)
	rep1, rep2 := f.signIn(t, "rep1@example.com"), f.signIn(t, "rep2@example.com")
	acc := rep1.id("/api/v1/accounts", `{"name":"Linked Ltd"}`)
	ann := rep1.id("/api/v1/contacts", fmt.Sprintf(`{"first_name":"Ann","last_name":"Lee","account_id":%d}`, acc))
	deal := rep1.id("/api/v1/opportunities", fmt.Sprintf(`{"name":"Renewal","account_id":%d,"amount":5000}`, acc))
	rep1.id("/api/v1/activities", fmt.Sprintf(`{"kind":"call","subject":"Call Ann","account_id":%d,"contact_id":%d}`, acc, ann))
	rep1.id("/api/v1/activities", fmt.Sprintf(`{"kind":"note","subject":"Quote sent","account_id":%d,"opportunity_id":%d,"contact_id":%d}`, acc, deal, ann))
	rep1.id("/api/v1/activities", fmt.Sprintf(`{"kind":"note","subject":"Account only","account_id":%d}`, acc))

	tests := []struct {
		name string
		who  *client
		path string
		want []string
	}{
		{"contact's activities, newest first", rep1, fmt.Sprintf("/api/v1/activities?contact_id=%d&sort=-updated", ann), []string{"Quote sent", "Call Ann"}},
		{"deal's activities", rep1, fmt.Sprintf("/api/v1/activities?opportunity_id=%d", deal), []string{"Quote sent"}},
		{"both filters", rep1, fmt.Sprintf("/api/v1/activities?opportunity_id=%d&contact_id=%d", deal, ann), []string{"Quote sent"}},
		{"another rep sees none", rep2, fmt.Sprintf("/api/v1/activities?contact_id=%d", ann), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := tt.who.do("GET", tt.path, "")
			var page struct{ Items []struct{ Subject string } }
			if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil {
				t.Fatalf("GET %s: %d %s", tt.path, code, body)
			}
			got := []string{}
			for _, it := range page.Items {
				got = append(got, it.Subject)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("GET %s: got %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	if code, body := rep1.do("GET", "/api/v1/activities?contact_id=x", ""); code != 400 {
		t.Errorf("contact_id=x: %d %s, want 400", code, body)
	} else if c, field := errCode(body); c != "invalid" || field != "contact_id" {
		t.Errorf("contact_id=x: code %q field %q", c, field)
	}
}
