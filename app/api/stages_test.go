package api

import (
	"encoding/json"
	"fmt"
	"testing"
)

// A deal's stage history records every stage it enters, by whom, newest
// first; a change that keeps the stage, or touches another field, records
// nothing; the owner rule holds.
func TestStageHistory(t *testing.T) {
	f := newFixture(t)
	rep1, rep2, mgr := f.signIn(t, "rep1@example.com"), f.signIn(t, "rep2@example.com"), f.signIn(t, "manager@example.com")
	acc := rep1.id("/api/v1/accounts", `{"name":"Staged Ltd"}`)
	deal := rep1.id("/api/v1/opportunities", fmt.Sprintf(`{"name":"Fleet","account_id":%d,"amount":5000}`, acc))
	path := fmt.Sprintf("/api/v1/opportunities/%d", deal)
	for _, step := range []struct {
		who  *client
		body string
	}{
		{rep1, `{"stage":"qualification"}`},
		{rep1, `{"stage":"qualification","amount":6000}`}, // same stage: no entry
		{rep1, `{"amount":7000}`},
		{mgr, `{"stage":"closed_won"}`}, // rep1's manager may move it
		{rep1, `{"stage":"negotiation"}`},
	} {
		if code, body := step.who.do("PATCH", path, step.body); code != 200 {
			t.Fatalf("PATCH %s: %d %s", step.body, code, body)
		}
	}

	type change struct {
		From   *string `json:"from_stage"`
		To     string  `json:"to_stage"`
		By     int64   `json:"changed_by"`
		ByName string  `json:"changed_by_name"`
		At     string  `json:"changed_at"`
	}
	history := func(c *client, id int64) (int, []change, string) {
		t.Helper()
		code, body := c.do("GET", fmt.Sprintf("/api/v1/opportunities/%d/stages", id), "")
		var page struct{ Items []change }
		if code == 200 {
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatalf("history %s: %v", body, err)
			}
		}
		return code, page.Items, body
	}
	code, got, body := history(rep1, deal)
	if code != 200 {
		t.Fatalf("history: %d %s", code, body)
	}
	rep1ID, mgrID := f.users["rep1@example.com"].ID, f.users["manager@example.com"].ID
	want := []struct {
		from, to string
		by       int64
	}{
		{"closed_won", "negotiation", rep1ID},
		{"qualification", "closed_won", mgrID},
		{"prospecting", "qualification", rep1ID},
		{"", "prospecting", rep1ID}, // created
	}
	if len(got) != len(want) {
		t.Fatalf("history has %d entries, want %d: %s", len(got), len(want), body)
	}
	for i, w := range want {
		from := ""
		if got[i].From != nil {
			from = *got[i].From
		}
		if from != w.from || got[i].To != w.to || got[i].By != w.by || got[i].ByName == "" || got[i].At == "" {
			t.Errorf("entry %d: %+v (from %q), want %s -> %s by %d", i, got[i], from, w.from, w.to, w.by)
		}
	}

	// Another rep's deal is not found, its history neither.
	if code, _, body := history(rep2, deal); code != 404 {
		t.Errorf("rep2 reads rep1's history: %d %s, want 404", code, body)
	}
	if code, body := rep2.do("PATCH", path, `{"stage":"proposal"}`); code != 404 {
		t.Errorf("rep2 moves rep1's deal: %d %s, want 404", code, body)
	}
	if _, got, _ := history(rep1, deal); len(got) != len(want) {
		t.Errorf("a refused change was recorded: %d entries", len(got))
	}
	if code, _, body := history(rep1, 999999); code != 404 {
		t.Errorf("missing deal: %d %s, want 404", code, body)
	}
	if code, body := rep1.do("GET", "/api/v1/opportunities/abc/stages", ""); code != 400 {
		t.Errorf("id abc: %d %s, want 400", code, body)
	}

	// A deal made by converting a lead starts its history too.
	lead := rep1.id("/api/v1/leads", `{"last_name":"Moe","company":"Moe AS"}`)
	code, body = rep1.do("POST", fmt.Sprintf("/api/v1/leads/%d/convert", lead), `{"deal_name":"First order"}`)
	var conv struct{ Opportunity struct{ ID int64 } }
	if err := json.Unmarshal([]byte(body), &conv); code != 201 || err != nil {
		t.Fatalf("convert: %d %s", code, body)
	}
	if _, got, body := history(rep1, conv.Opportunity.ID); len(got) != 1 || got[0].From != nil || got[0].To != "prospecting" || got[0].By != rep1ID {
		t.Errorf("converted deal's history: %s", body)
	}
}
