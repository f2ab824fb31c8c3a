package app

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// List limits.
const (
	DefaultLimit = 25
	MaxLimit     = 200
	maxQuery     = 200
)

// ListQuery is a parsed list request.
type ListQuery struct {
	// Words of ?q=, for a prefix full-text search; empty for none.
	Words []string
	Limit int
	// Sort is a key of Resource.Sorts; Desc reverses it. Default: -updated.
	Sort string
	Desc bool
	// After is the position to continue after (from ?after=), or nil.
	After *Cursor
	// Filters are column = value conditions, in the resource's filter order.
	Filters Changes
	// Total asks for the number of matching records (?total=1), counted up
	// to TotalCap.
	Total bool
	// Fields are the keys each item carries (?fields=id,email), in the
	// order asked; nil for the whole record. A client that reads many
	// items for a few of their fields (marketing's recipients) spares the
	// CRM what it would add: account_name is a lookup per item.
	Fields []string
}

// TotalCap bounds the count behind ?total=1: counting every one of 25M
// records for a page header would cost more than the page. A list with
// more says so (total_capped) instead.
const TotalCap = 10000

// Cursor is the keyset position of the last item of a page.
type Cursor struct {
	Sort  string `json:"s"` // the ?sort= it belongs to, e.g. "-name"
	Value string `json:"v"` // the sort key of the last item, as text
	ID    int64  `json:"id"`
}

// Encode returns the opaque ?after= value.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SortParam returns the ?sort= value the query was made with.
func (q ListQuery) SortParam() string {
	if q.Desc {
		return "-" + q.Sort
	}
	return q.Sort
}

// ParseList validates the query string of a list request.
func (r Resource) ParseList(v url.Values) (ListQuery, error) {
	q := ListQuery{Limit: DefaultLimit, Sort: "updated", Desc: true}
	for k := range v {
		if !slices.Contains([]string{"q", "limit", "after", "sort", "total", "fields"}, k) && !slices.ContainsFunc(r.Filters, func(f Field) bool { return f.Name == k }) {
			return ListQuery{}, Errorf(EINVALID, "unknown query parameter").In(k)
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return ListQuery{}, Errorf(EINVALID, "must be an integer from 1 to %d", MaxLimit).In("limit")
		}
		q.Limit = n
	}
	switch v.Get("total") {
	case "", "0", "false":
	case "1", "true":
		q.Total = true
	default:
		return ListQuery{}, Errorf(EINVALID, "must be 1 (or true) to count the matching records, or left out").In("total")
	}
	if s := v.Get("sort"); s != "" {
		key := strings.TrimPrefix(s, "-")
		if !slices.Contains(r.Sorts, key) {
			return ListQuery{}, Errorf(EINVALID, "must be one of %s, optionally with a leading -", strings.Join(r.Sorts, ", ")).In("sort")
		}
		q.Sort, q.Desc = key, strings.HasPrefix(s, "-")
	}
	if s := v.Get("q"); s != "" {
		words, err := SearchWords(s)
		if err != nil {
			return ListQuery{}, err
		}
		q.Words = words
	}
	if s := v.Get("after"); s != "" {
		c, err := decodeCursor(s)
		if err != nil || c.Sort != q.SortParam() {
			return ListQuery{}, Errorf(EINVALID, "is not a cursor of this list with sort %s; use the \"next\" value of the previous page", q.SortParam()).In("after")
		}
		q.After = &c
	}
	if s, ok := v["fields"]; ok {
		fields, err := r.listFields(strings.Join(s, ","))
		if err != nil {
			return ListQuery{}, err
		}
		q.Fields = fields
	}
	for _, f := range r.Filters {
		s := v.Get(f.Name)
		if s == "" {
			continue
		}
		val, err := f.decode(filterJSON(f, s))
		if err != nil || val == nil {
			return ListQuery{}, Errorf(EINVALID, "bad filter value %q", s).In(f.Name)
		}
		q.Filters.Set(f.Name, val)
	}
	return q, nil
}

// filterJSON turns a query-string value into the JSON the field decodes.
func filterJSON(f Field, s string) json.RawMessage {
	switch f.Type {
	case Ref, Bool, Int:
		if strings.ContainsAny(s, "{}[]\",:") {
			return json.RawMessage(`"bad"`)
		}
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func decodeCursor(s string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	if c.ID <= 0 || len(c.Value) > 1000 {
		return c, Errorf(EINVALID, "bad cursor")
	}
	return c, nil
}

// SearchWords splits a search string into the words a prefix search looks
// for: runs of letters and digits, at most 8 of them.
func SearchWords(s string) ([]string, error) {
	if err := CheckText(s, maxQuery); err != nil {
		return nil, Errorf(EINVALID, "%v", err).In("q")
	}
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) == 0 {
		return nil, Errorf(EINVALID, "has no letters or digits to search for").In("q")
	}
	if len(words) > 8 {
		words = words[:8]
	}
	return words, nil
}

// ListFields are the keys a list item has: id, the resource's fields, its
// timestamps and, for records that belong to an account, account_name.
func (r Resource) ListFields() []string {
	keys := []string{"id"}
	for _, f := range r.Fields {
		keys = append(keys, f.Name)
	}
	if slices.ContainsFunc(r.Fields, func(f Field) bool { return f.Name == "account_id" }) {
		keys = append(keys, "account_name")
	}
	return append(keys, "created_at", "updated_at")
}

// listFields parses ?fields=: list item keys, comma-separated, each once.
func (r Resource) listFields(s string) ([]string, error) {
	known := r.ListFields()
	var fields []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(known, name) {
			return nil, Errorf(EINVALID, "unknown field %q; %s items have %s", name, r.Name, strings.Join(known, ", ")).In("fields")
		}
		if !slices.Contains(fields, name) {
			fields = append(fields, name)
		}
	}
	return fields, nil
}
