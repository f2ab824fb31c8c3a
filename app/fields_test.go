package app

import (
	"net/url"
	"strings"
	"testing"
)

func mustResource(t testing.TB, name string) Resource {
	r, ok := ResourceNamed(name)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	return r
}

func TestDecodeCreate(t *testing.T) {
	tests := []struct {
		name      string
		resource  string
		body      string
		wantField string // of the error; "" with wantErr false means success
		wantErr   bool
		check     func(t *testing.T, c Changes)
	}{
		{name: "minimal account", resource: "accounts", body: `{"name":" Acme "}`, check: func(t *testing.T, c Changes) {
			if v, _ := c.Get("name"); v != "Acme" {
				t.Errorf("name = %q, want trimmed Acme", v)
			}
		}},
		{name: "apostrophe and SQL-looking text are data", resource: "accounts", body: `{"name":"O'Brien'); DROP TABLE accounts;--"}`},
		{name: "opportunity defaults", resource: "opportunities", body: `{"name":"Deal","account_id":7}`, check: func(t *testing.T, c Changes) {
			if v, _ := c.Get("stage"); v != "prospecting" {
				t.Errorf("stage = %v", v)
			}
			if v, _ := c.Get("amount"); v != 0.0 {
				t.Errorf("amount = %v", v)
			}
		}},
		{name: "missing required", resource: "accounts", body: `{}`, wantErr: true, wantField: "name"},
		{name: "empty required", resource: "accounts", body: `{"name":"  "}`, wantErr: true, wantField: "name"},
		{name: "unknown field", resource: "accounts", body: `{"name":"A","nmae":"B"}`, wantErr: true, wantField: "nmae"},
		{name: "duplicate key", resource: "accounts", body: `{"name":"A","name":"B"}`, wantErr: true, wantField: "name"},
		{name: "duplicate key spelled with an escape", resource: "contacts", body: `{"first_name":"A","last_name":"B","owner_id":1,"owner\u005fid":2}`, wantErr: true, wantField: "owner_id"},
		{name: "array body", resource: "accounts", body: `[{"name":"A"}]`, wantErr: true},
		{name: "truncated object", resource: "accounts", body: `{"name":"A"`, wantErr: true},
		{name: "read-only id", resource: "accounts", body: `{"name":"A","id":3}`, wantErr: true, wantField: "id"},
		{name: "too long", resource: "accounts", body: `{"name":"` + strings.Repeat("x", 201) + `"}`, wantErr: true, wantField: "name"},
		{name: "NUL byte", resource: "accounts", body: `{"name":"a\u0000b"}`, wantErr: true, wantField: "name"},
		{name: "bad email", resource: "contacts", body: `{"first_name":"A","last_name":"B","email":"not an email"}`, wantErr: true, wantField: "email"},
		{name: "email normalized", resource: "contacts", body: `{"first_name":"A","last_name":"B","email":"Ann@Example.COM"}`, check: func(t *testing.T, c Changes) {
			if v, _ := c.Get("email"); v != "ann@example.com" {
				t.Errorf("email = %v", v)
			}
		}},
		{name: "negative id", resource: "contacts", body: `{"first_name":"A","last_name":"B","account_id":-1}`, wantErr: true, wantField: "account_id"},
		{name: "id as string", resource: "contacts", body: `{"first_name":"A","last_name":"B","account_id":"1 OR 1=1"}`, wantErr: true, wantField: "account_id"},
		{name: "bad stage", resource: "opportunities", body: `{"name":"D","account_id":1,"stage":"won"}`, wantErr: true, wantField: "stage"},
		{name: "three decimals", resource: "opportunities", body: `{"name":"D","account_id":1,"amount":1.005}`, wantErr: true, wantField: "amount"},
		{name: "huge amount", resource: "opportunities", body: `{"name":"D","account_id":1,"amount":1e13}`, wantErr: true, wantField: "amount"},
		{name: "probability over 100", resource: "opportunities", body: `{"name":"D","account_id":1,"probability":101}`, wantErr: true, wantField: "probability"},
		{name: "bad date", resource: "opportunities", body: `{"name":"D","account_id":1,"close_date":"31/12/2025"}`, wantErr: true, wantField: "close_date"},
		{name: "task", resource: "activities", body: `{"kind":"task","subject":"Call back","due_at":"2025-12-31T09:30:00Z"}`},
		{name: "done null", resource: "activities", body: `{"kind":"task","subject":"S","done":null}`, wantErr: true, wantField: "done"},
		{name: "not JSON", resource: "accounts", body: `{"name":`, wantErr: true},
		{name: "array", resource: "accounts", body: `[1]`, wantErr: true},
		{name: "null body", resource: "accounts", body: `null`, wantErr: true},
		{name: "trailing data", resource: "accounts", body: `{"name":"A"} {"name":"B"}`, wantErr: true},
		{name: "empty body", resource: "accounts", body: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := mustResource(t, tt.resource).DecodeCreate([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if ErrorCode(err) != EINVALID {
					t.Errorf("code = %s, want invalid", ErrorCode(err))
				}
				if e := err.(*Error); e.Field != tt.wantField {
					t.Errorf("field = %q, want %q (%v)", e.Field, tt.wantField, err)
				}
				return
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestDecodePatch(t *testing.T) {
	r := mustResource(t, "contacts")
	c, err := r.DecodePatch([]byte(`{"account_id":null,"title":"CTO"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get("account_id"); !ok || v != nil {
		t.Errorf("account_id = %v, %v; want explicit null", v, ok)
	}
	if _, ok := c.Get("first_name"); ok {
		t.Error("absent first_name is in the changes")
	}
	if _, err := r.DecodePatch([]byte(`{}`)); err == nil {
		t.Error("empty patch accepted")
	}
	if _, err := r.DecodePatch([]byte(`{"last_name":null}`)); err == nil {
		t.Error("required field set to null")
	}
}

func TestParseList(t *testing.T) {
	opp := mustResource(t, "opportunities")
	next := Cursor{Sort: "-amount", Value: "100.00", ID: 9}.Encode()
	tests := []struct {
		name    string
		query   string
		want    func(q ListQuery) bool
		wantErr string // field
	}{
		{"defaults", "", func(q ListQuery) bool { return q.Limit == 25 && q.Sort == "updated" && q.Desc }, ""},
		{"search words", "q=Acme+Corp%27%3B", func(q ListQuery) bool { return strings.Join(q.Words, ",") == "acme,corp" }, ""},
		{"sort and cursor", "sort=-amount&after=" + next, func(q ListQuery) bool { return q.After != nil && q.After.ID == 9 && q.Desc }, ""},
		{"filters", "stage=proposal&owner_id=3", func(q ListQuery) bool {
			s, _ := q.Filters.Get("stage")
			o, _ := q.Filters.Get("owner_id")
			return s == "proposal" && o == int64(3)
		}, ""},
		{"cursor of another sort", "sort=name&after=" + next, nil, "after"},
		{"garbage cursor", "after=%27%20OR%201%3D1", nil, "after"},
		{"limit too high", "limit=201", nil, "limit"},
		{"limit zero", "limit=0", nil, "limit"},
		{"bad sort", "sort=name%3BDROP", nil, "sort"},
		{"amount not sortable on accounts", "", nil, ""},
		{"bad owner", "owner_id=1%20OR%201=1", nil, "owner_id"},
		{"bad stage", "stage=won", nil, "stage"},
		{"unknown param", "kind=call", nil, "kind"},
		{"no words", "q=%25%25", nil, "q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			q, err := opp.ParseList(v)
			if tt.wantErr != "" {
				if err == nil || err.(*Error).Field != tt.wantErr {
					t.Fatalf("err = %v, want one about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !tt.want(q) {
				t.Errorf("query %+v", q)
			}
		})
	}
	if _, err := mustResource(t, "accounts").ParseList(url.Values{"sort": {"amount"}}); err == nil {
		t.Error("accounts accepted sort=amount")
	}
}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{`{"name":"A"}`, `{"name":"D","account_id":1,"amount":12.5}`, `{"kind":"task","subject":"x","due_at":"2025-01-01T00:00:00Z"}`, `[`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, r := range Resources {
			c, err := r.DecodeCreate([]byte(body))
			if err != nil {
				if ErrorCode(err) != EINVALID {
					t.Fatalf("%s: code %s for %v", r.Name, ErrorCode(err), err)
				}
				continue
			}
			if len(c.Columns) != len(c.Values) {
				t.Fatalf("%s: %d columns, %d values", r.Name, len(c.Columns), len(c.Values))
			}
			for _, f := range r.Fields {
				if _, ok := c.Get(f.Name); f.Required && !ok {
					t.Fatalf("%s: required %s missing from accepted body %q", r.Name, f.Name, body)
				}
			}
			if v, ok := c.Get("name"); ok {
				if s, _ := v.(string); strings.ContainsRune(s, 0) {
					t.Fatalf("NUL accepted in %q", body)
				}
			}
		}
	})
}

func FuzzParseList(f *testing.F) {
	f.Add("q=acme&limit=10&sort=-name")
	f.Add("after=" + Cursor{Sort: "-updated", Value: "x", ID: 1}.Encode())
	f.Fuzz(func(t *testing.T, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, r := range Resources {
			q, err := r.ParseList(v)
			if err != nil {
				if ErrorCode(err) != EINVALID {
					t.Fatalf("code %s for %v", ErrorCode(err), err)
				}
				continue
			}
			if q.Limit < 1 || q.Limit > MaxLimit {
				t.Fatalf("limit %d accepted", q.Limit)
			}
			for _, w := range q.Words {
				if w == "" || strings.ContainsAny(w, "&|!:()'\\ ") {
					t.Fatalf("search word %q would break the tsquery", w)
				}
			}
		}
	})
}
