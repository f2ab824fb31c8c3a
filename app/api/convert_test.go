package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestConvertLead(t *testing.T) {
	f := newFixture(t)
	rep1, rep2 := f.signIn(t, "rep1@example.com"), f.signIn(t, "rep2@example.com")
	lead := rep1.id("/api/v1/leads", `{"first_name":"Ola","last_name":"Nordmann","company":"Fjord Fisk","email":"ola@fjord.example","phone":"+47 1"}`)
	convert := func(c *client, id int64, body string) (int, string) {
		t.Helper()
		return c.do("POST", fmt.Sprintf("/api/v1/leads/%d/convert", id), body)
	}

	code, body := convert(rep1, lead, `{"deal_name":"First order","deal_amount":1250.5}`)
	if code != 201 {
		t.Fatalf("convert: %d %s", code, body)
	}
	var out struct {
		Lead    struct{ Status string }
		Account struct {
			ID      int64
			OwnerID int64 `json:"owner_id"`
			Name    string
		}
		Contact struct {
			ID        int64
			AccountID int64  `json:"account_id"`
			FirstName string `json:"first_name"`
			LastName  string `json:"last_name"`
			Email     string
		} `json:"contact"`
		Opportunity *struct {
			Name      string
			AccountID int64 `json:"account_id"`
			Amount    float64
			Stage     string
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	rep1ID := f.users["rep1@example.com"].ID
	if out.Lead.Status != "converted" || out.Account.Name != "Fjord Fisk" || out.Account.OwnerID != rep1ID ||
		out.Contact.AccountID != out.Account.ID || out.Contact.FirstName != "Ola" || out.Contact.Email != "ola@fjord.example" ||
		out.Opportunity == nil || out.Opportunity.AccountID != out.Account.ID || out.Opportunity.Amount != 1250.5 || out.Opportunity.Stage != "prospecting" {
		t.Errorf("converted: %s", body)
	}
	// The lead stays, converted; a second conversion is refused.
	if code, body := rep1.do("GET", fmt.Sprintf("/api/v1/leads/%d", lead), ""); code != 200 || !json.Valid([]byte(body)) || !contains(body, `"status": "converted"`, `"status":"converted"`) {
		t.Errorf("lead after conversion: %d %s", code, body)
	}
	if code, body := convert(rep1, lead, `{}`); code != 409 {
		t.Errorf("second conversion: %d %s, want 409", code, body)
	}

	// Onto an existing account, without a deal.
	acc := rep1.id("/api/v1/accounts", `{"name":"Existing AS"}`)
	lead2 := rep1.id("/api/v1/leads", `{"last_name":"Hansen"}`)
	code, body = convert(rep1, lead2, fmt.Sprintf(`{"account_id":%d}`, acc))
	if code != 201 || !contains(body, `"opportunity":null`, `"opportunity": null`) {
		t.Errorf("convert onto account: %d %s", code, body)
	}
	_ = json.Unmarshal([]byte(body), &out)
	if out.Contact.AccountID != acc || out.Contact.LastName != "Hansen" {
		t.Errorf("contact not on the given account: %s", body)
	}

	own2 := rep2.id("/api/v1/leads", `{"last_name":"Berg"}`)
	bad := []struct {
		name      string
		who       *client
		lead      int64
		body      string
		wantCode  int
		wantField string
	}{
		{"another rep's lead", rep2, lead2, `{}`, 404, ""},
		{"another rep's account", rep2, own2, fmt.Sprintf(`{"account_id":%d}`, acc), 400, "account_id"},
		{"no company and no account name", rep2, own2, `{}`, 400, "account_name"},
		{"amount without a deal", rep2, own2, `{"account_name":"X","deal_amount":5}`, 400, "deal_amount"},
		{"duplicate key", rep2, own2, `{"account_name":"X","account_name":"Y"}`, 400, "account_name"},
		{"unknown field", rep2, own2, `{"stage":"closed_won"}`, 400, "stage"},
		{"bad amount", rep2, own2, `{"account_name":"X","deal_name":"D","deal_amount":1e9999}`, 400, "deal_amount"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			code, body := convert(tt.who, tt.lead, tt.body)
			if _, field := errCode(body); code != tt.wantCode || field != tt.wantField {
				t.Errorf("%d %s, want %d on %q", code, body, tt.wantCode, tt.wantField)
			}
		})
	}
	// Nothing of a refused conversion is left behind.
	if code, body := rep2.do("GET", "/api/v1/accounts?q=x", ""); code != 200 || contains(body, `"name":"X"`, `"name": "X"`) {
		t.Errorf("a refused conversion left an account: %s", body)
	}
}

// contains reports whether s holds any of the spellings of a JSON fragment.
func contains(s string, spellings ...string) bool {
	for _, a := range spellings {
		if strings.Contains(s, a) {
			return true
		}
	}
	return false
}
