package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
)

// sortKey is the SQL of a ?sort= key and the type its cursor value casts to.
type sortKey struct {
	expr, typ string
}

// sortKeys per resource; the indexes in migration 2 match them.
var sortKeys = map[string]map[string]sortKey{
	"accounts":      {"name": {"t.name", "text"}, "updated": {"t.updated_at", "timestamptz"}},
	"contacts":      {"name": {"t.last_name", "text"}, "updated": {"t.updated_at", "timestamptz"}},
	"leads":         {"name": {"t.last_name", "text"}, "updated": {"t.updated_at", "timestamptz"}},
	"opportunities": {"name": {"t.name", "text"}, "updated": {"t.updated_at", "timestamptz"}, "amount": {"t.amount", "numeric"}},
	"activities":    {"name": {"t.subject", "text"}, "updated": {"t.updated_at", "timestamptz"}},
}

// noIndex wraps a sort expression so that no index matches it, without
// changing its value or order.
var noIndex = map[string]func(string) string{
	"text":        func(e string) string { return "(" + e + " || '')" },
	"timestamptz": func(e string) string { return "(" + e + " + interval '0')" },
	"numeric":     func(e string) string { return "(" + e + " + 0)" },
}

// recordJSON is a record as the API returns it: every column but the
// search vector.
const recordJSON = "to_jsonb(t) - 'search'"

// listJSON is a record as a list returns it: records that belong to an
// account carry its name too, so that a list (the pipeline board, contact
// lists) can name the account without a request per row. The lookup is by
// primary key, once per row of the page.
func listJSON(r app.Resource) string {
	switch r.Name {
	case "contacts", "opportunities", "activities":
		return recordJSON + " || jsonb_build_object('account_name', (SELECT a.name FROM accounts a WHERE a.id = t.account_id))"
	}
	return recordJSON
}

// Page is one page of a list: JSON objects and the cursor of the next page.
type Page struct {
	Items []json.RawMessage `json:"items"`
	Next  string            `json:"next"`
}

// args collects query parameters and returns their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// List returns a page of r's records visible to p.
func (s *Store) List(ctx context.Context, p *app.Principal, r app.Resource, q app.ListQuery) (Page, error) {
	key := sortKeys[r.Name][q.Sort]
	pool := s.reader(ctx)
	tsquery := strings.Join(q.Words, ":* & ") + ":*"
	if len(q.Words) > 0 {
		dense, err := s.denseMatch(ctx, pool, p, r, tsquery)
		if err != nil {
			return Page{}, err
		}
		if !dense {
			// Hide the sort index from the planner: it would walk the whole
			// sort index for a word that matches little or nothing (1.2 s at
			// 300,000 contacts). Sorting the few matches is fast.
			key.expr = noIndex[key.typ](key.expr)
		}
	}
	var a args
	var where []string
	if owners := p.Owners(); owners != nil {
		where = append(where, "t.owner_id = ANY("+a.add(owners)+")")
	}
	if len(q.Words) > 0 {
		where = append(where, "t.search @@ to_tsquery('simple', "+a.add(tsquery)+")")
	}
	for i, col := range q.Filters.Columns {
		where = append(where, "t."+col+" = "+a.add(q.Filters.Values[i]))
	}
	dir, cmp := "", ">"
	if q.Desc {
		dir, cmp = " DESC", "<"
	}
	if q.After != nil {
		where = append(where, fmt.Sprintf("(%s, t.id) %s (%s::%s, %s)", key.expr, cmp, a.add(q.After.Value), key.typ, a.add(q.After.ID)))
	}
	sql := "SELECT " + listJSON(r) + ", " + key.expr + "::text, t.id FROM " + r.Name + " t"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += fmt.Sprintf(" ORDER BY %s%s, t.id%s LIMIT %d", key.expr, dir, dir, q.Limit+1)
	rows, err := pool.Query(ctx, sql, a...)
	if err != nil {
		return Page{}, dbError(err, r.Name)
	}
	page := Page{Items: make([]json.RawMessage, 0, q.Limit)}
	var last app.Cursor
	for rows.Next() {
		var item []byte
		var sortValue *string
		var id int64
		if err := rows.Scan(&item, &sortValue, &id); err != nil {
			return Page{}, dbError(err, r.Name)
		}
		if len(page.Items) == q.Limit {
			page.Next = last.Encode()
			break
		}
		page.Items = append(page.Items, item)
		last = app.Cursor{Sort: q.SortParam(), ID: id}
		if sortValue != nil {
			last.Value = *sortValue
		}
	}
	rows.Close()
	return page, dbError(rows.Err(), r.Name)
}

// denseLimit is the number of matches from which a search counts as dense:
// then walking the sort index finds a page of matches quickly.
const denseLimit = 2000

// denseMatch probes, through the search index, whether a search matches
// many records.
func (s *Store) denseMatch(ctx context.Context, pool *pgxpool.Pool, p *app.Principal, r app.Resource, tsquery string) (bool, error) {
	var a args
	sql := "SELECT count(*) FROM (SELECT 1 FROM " + r.Name + " t WHERE t.search @@ to_tsquery('simple', " + a.add(tsquery) + ")"
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	sql += fmt.Sprintf(" LIMIT %d) m", denseLimit)
	var n int
	if err := pool.QueryRow(ctx, sql, a...).Scan(&n); err != nil {
		return false, dbError(err, r.Name)
	}
	return n == denseLimit, nil
}

// accountDetail adds the latest 20 contacts, opportunities and activities.
const accountDetail = ` || jsonb_build_object(
	'contacts', (SELECT coalesce(jsonb_agg(x.j), '[]') FROM (SELECT to_jsonb(c) - 'search' AS j FROM contacts c WHERE c.account_id = t.id ORDER BY c.updated_at DESC LIMIT 20) x),
	'opportunities', (SELECT coalesce(jsonb_agg(x.j), '[]') FROM (SELECT to_jsonb(o) - 'search' AS j FROM opportunities o WHERE o.account_id = t.id ORDER BY o.updated_at DESC LIMIT 20) x),
	'activities', (SELECT coalesce(jsonb_agg(x.j), '[]') FROM (SELECT to_jsonb(v) - 'search' AS j FROM activities v WHERE v.account_id = t.id ORDER BY v.updated_at DESC LIMIT 20) x))`

// Get returns one record as JSON; ENOTFOUND if it does not exist or p may
// not see it. Single records are read from the primary: a client usually
// fetches what it has just created or changed.
func (s *Store) Get(ctx context.Context, p *app.Principal, r app.Resource, id int64) (json.RawMessage, error) {
	var a args
	sql := "SELECT " + recordJSON
	if r.Name == "accounts" {
		sql += accountDetail
	}
	sql += " FROM " + r.Name + " t WHERE t.id = " + a.add(id)
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	var b []byte
	if err := s.primary.QueryRow(ctx, sql, a...).Scan(&b); err != nil {
		return nil, dbError(err, singular(r.Name))
	}
	return b, nil
}

// Create inserts a record and returns it as JSON.
func (s *Store) Create(ctx context.Context, r app.Resource, c app.Changes) (json.RawMessage, error) {
	var a args
	marks := make([]string, len(c.Values))
	for i, v := range c.Values {
		marks[i] = a.add(v)
	}
	sql := fmt.Sprintf("INSERT INTO %s AS t (%s) VALUES (%s) RETURNING %s",
		r.Name, strings.Join(c.Columns, ", "), strings.Join(marks, ", "), recordJSON)
	var b []byte
	if err := s.primary.QueryRow(ctx, sql, a...).Scan(&b); err != nil {
		return nil, dbError(err, singular(r.Name))
	}
	s.wrote(ctx)
	return b, nil
}

// Update applies a partial update to a record p may change and returns it.
func (s *Store) Update(ctx context.Context, p *app.Principal, r app.Resource, id int64, c app.Changes) (json.RawMessage, error) {
	var a args
	sets := make([]string, 0, len(c.Columns)+1)
	for i, col := range c.Columns {
		sets = append(sets, col+" = "+a.add(c.Values[i]))
	}
	sets = append(sets, "updated_at = now()")
	sql := "UPDATE " + r.Name + " t SET " + strings.Join(sets, ", ") + " WHERE t.id = " + a.add(id)
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	sql += " RETURNING " + recordJSON
	var b []byte
	if err := s.primary.QueryRow(ctx, sql, a...).Scan(&b); err != nil {
		return nil, dbError(err, singular(r.Name))
	}
	s.wrote(ctx)
	return b, nil
}

// Delete removes a record p may change.
func (s *Store) Delete(ctx context.Context, p *app.Principal, r app.Resource, id int64) error {
	var a args
	sql := "DELETE FROM " + r.Name + " t WHERE t.id = " + a.add(id)
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	tag, err := s.primary.Exec(ctx, sql, a...)
	if err != nil {
		return dbError(err, singular(r.Name))
	}
	if tag.RowsAffected() == 0 {
		return dbError(pgx.ErrNoRows, singular(r.Name))
	}
	s.wrote(ctx)
	return nil
}

// singular names one record of a resource in messages.
func singular(name string) string {
	if name == "opportunities" || name == "activities" {
		return strings.TrimSuffix(name, "ies") + "y"
	}
	return strings.TrimSuffix(name, "s")
}
