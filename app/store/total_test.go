package store

import (
	"fmt"
	"testing"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/pgserver"
)

// ?total=1 counts what the list's conditions match (owner, search,
// filters), the same on every page, and stops at app.TotalCap.
func TestListTotals(t *testing.T) {
	s := openStore(t, pgserver.StartTest(t), nil)
	ctx := t.Context()
	rep1 := mustUser(t, s, "rep1@example.com", app.RoleRep, nil)
	rep2 := mustUser(t, s, "rep2@example.com", app.RoleRep, nil)
	admin := mustUser(t, s, "admin@example.com", app.RoleAdmin, nil)
	acc := create(t, s, "accounts", fmt.Sprintf(`{"name":"Counted","owner_id":%d}`, rep1.User.ID))
	for i := range 7 {
		create(t, s, "leads", fmt.Sprintf(`{"last_name":"Lead%d","status":"%s","owner_id":%d}`, i, app.LeadStatuses[i%2], rep1.User.ID))
	}
	create(t, s, "leads", fmt.Sprintf(`{"last_name":"Other","owner_id":%d}`, rep2.User.ID))
	// Bulk rows beyond the cap, through COPY as an import makes them.
	rows := make([][]any, app.TotalCap+5)
	for i := range rows {
		rows[i] = []any{"Bulk", fmt.Sprintf("Row%d", i), acc}
	}
	if _, err := s.ImportContacts(ctx, rep2.User.ID, []string{"first_name", "last_name", "account_id"}, rows); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		who        *app.Principal
		resource   string
		query      string
		wantTotal  int64
		wantCapped bool
	}{
		{"own leads", rep1, "leads", "total=1&limit=3", 7, false},
		{"status filter", rep1, "leads", "total=1&status=contacted", 3, false},
		{"search", rep1, "leads", "total=true&q=lead3", 1, false},
		{"another rep's", rep2, "leads", "total=1", 1, false},
		{"admin sees all", admin, "leads", "total=1", 8, false},
		{"capped", admin, "contacts", "total=1&limit=1", app.TotalCap, true},
		{"none", rep1, "contacts", "total=1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := list(t, s, tt.who, tt.resource, tt.query)
			if p.Total == nil || *p.Total != tt.wantTotal || p.TotalCapped != tt.wantCapped {
				t.Fatalf("total %v capped %v, want %d %v", p.Total, p.TotalCapped, tt.wantTotal, tt.wantCapped)
			}
		})
	}
	// The total stays on the second page: it counts the list, not what
	// follows the cursor.
	first := list(t, s, rep1, "leads", "total=1&limit=3&sort=name")
	second := list(t, s, rep1, "leads", "total=1&limit=3&sort=name&after="+first.Next)
	if len(second.Items) != 3 || second.Total == nil || *second.Total != 7 {
		t.Errorf("second page: %d items, total %v", len(second.Items), second.Total)
	}
	if p := list(t, s, rep1, "leads", ""); p.Total != nil {
		t.Errorf("total without ?total=1: %d", *p.Total)
	}
	leads, _ := app.ResourceNamed("leads")
	if _, err := leads.ParseList(map[string][]string{"total": {"yes"}}); app.ErrorCode(err) != app.EINVALID {
		t.Errorf("total=yes: %v", err)
	}
}

// BenchmarkListTotal measures what ?total=1 adds to a list page over
// 300,000 contacts: the count stops at app.TotalCap, so it costs the same
// at 300,000 as at 25M records.
//
//	go test ./app/store -run '^$' -bench ListTotal -benchtime 200x
func BenchmarkListTotal(b *testing.B) {
	s := openStore(b, pgserver.StartTest(b), nil)
	ctx := b.Context()
	admin := mustUser(b, s, "admin@example.com", app.RoleAdmin, nil)
	rep := mustUser(b, s, "rep@example.com", app.RoleRep, nil)
	const n = 300_000
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{fmt.Sprintf("First%d", i%5000), fmt.Sprintf("Last%d", i)}
	}
	if _, err := s.ImportContacts(ctx, rep.User.ID, []string{"first_name", "last_name"}, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pri().Exec(ctx, "VACUUM ANALYZE contacts"); err != nil {
		b.Fatal(err)
	}
	contacts, _ := app.ResourceNamed("contacts")
	for _, bc := range []struct {
		name  string
		who   *app.Principal
		query map[string][]string
	}{
		{"page", admin, map[string][]string{"sort": {"name"}}},
		{"page+total", admin, map[string][]string{"sort": {"name"}, "total": {"1"}}},
		{"rep/page+total", rep, map[string][]string{"sort": {"name"}, "total": {"1"}}},
		{"search/page", admin, map[string][]string{"q": {"first42"}}},
		{"search/page+total", admin, map[string][]string{"q": {"first42"}, "total": {"1"}}},
	} {
		q, err := contacts.ParseList(bc.query)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.List(ctx, bc.who, contacts, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
