package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
)

// sortKey is the SQL of a ?sort= key and the type its cursor value casts to.
type sortKey struct {
	expr, typ string
}

// sortKeys per resource; the indexes in migration 2 match them.
var sortKeys = map[string]map[string]sortKey{
	"accounts":      {"name": {"t.name", "text"}, "updated": {"t.updated_at", "timestamptz"}, "id": {"t.id", "bigint"}},
	"contacts":      {"name": {"t.last_name", "text"}, "updated": {"t.updated_at", "timestamptz"}, "id": {"t.id", "bigint"}},
	"leads":         {"name": {"t.last_name", "text"}, "updated": {"t.updated_at", "timestamptz"}, "id": {"t.id", "bigint"}},
	"opportunities": {"name": {"t.name", "text"}, "updated": {"t.updated_at", "timestamptz"}, "amount": {"t.amount", "numeric"}, "id": {"t.id", "bigint"}},
	"activities":    {"name": {"t.subject", "text"}, "updated": {"t.updated_at", "timestamptz"}, "id": {"t.id", "bigint"}},
}

// noIndex wraps a sort expression so that no index matches it, without
// changing its value or order.
var noIndex = map[string]func(string) string{
	"text":        func(e string) string { return "(" + e + " || '')" },
	"timestamptz": func(e string) string { return "(" + e + " + interval '0')" },
	"numeric":     func(e string) string { return "(" + e + " + 0)" },
	"bigint":      func(e string) string { return "(" + e + " + 0)" },
}

// recordJSON is a record as the API returns it: every column but the
// search vector.
const recordJSON = "to_jsonb(t) - 'search'"

// listJSON is a record as a list returns it: records that belong to an
// account carry its name too, so that a list (the pipeline board, contact
// lists) can name the account without a request per row. The lookup is by
// primary key, once per row of the page. owners is the placeholder of the
// owners the caller may see ("" for all): the name of an account the
// caller may not see stays null.
//
// fields (?fields=, app.ListQuery.Fields) narrows the items to those keys,
// and leaves the account lookup out unless account_name is one of them.
// They are keys of r.ListFields, never the client's text: ParseList
// checked them.
func listJSON(r app.Resource, owners string, fields []string) string {
	accountName := "(SELECT a.name FROM accounts a WHERE a.id = t.account_id" + ownedBy("a", owners) + ")"
	if fields != nil {
		pairs := make([]string, len(fields))
		for i, f := range fields {
			v := "t." + f
			if f == "account_name" {
				v = accountName
			}
			pairs[i] = "'" + f + "', " + v
		}
		return "jsonb_build_object(" + strings.Join(pairs, ", ") + ")"
	}
	switch r.Name {
	case "contacts", "opportunities", "activities":
		return recordJSON + " || jsonb_build_object('account_name', " + accountName + ")"
	}
	return recordJSON
}

// ownedBy is the condition that alias's records belong to the owners of
// placeholder owners; "" when the caller sees everything.
func ownedBy(alias, owners string) string {
	if owners == "" {
		return ""
	}
	return " AND " + alias + ".owner_id = ANY(" + owners + ")"
}

// Page is one page of a list: JSON objects and the cursor of the next page;
// with ?total=1, the number of records the list holds, at most
// app.TotalCap, and whether there are more than that.
type Page struct {
	Items       []json.RawMessage `json:"items"`
	Next        string            `json:"next"`
	Total       *int64            `json:"total,omitempty"`
	TotalCapped bool              `json:"total_capped,omitempty"`
}

// args collects query parameters and returns their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// List returns a page of r's records visible to p.
//
// A search (?q=) matching many records is best answered by walking the
// sort index until a page of matches turns up; one matching few, by
// sorting its matches. Walking for a word that matches little or nothing
// reads every record (1.2 s at 300,000 contacts); so does walking to
// matches that sit together far along the sort order (a last name sorted
// by last name: 14.5 s for "schmidt" at 25M records) or behind many
// newer records that do not match (a bulk import's). And counting the
// matches through the search index reads them all (60 ms for that last
// name, the replica's busiest query at 25M). So, in order, each step
// only when the one before did not settle it:
//   - the planner's estimate of the matches (a plan, no read): few, sort;
//   - a short walk (shortWalk rows an item of the page): most dense
//     searches end here;
//   - a count through the search index, up to denseLimit: cheap when the
//     matches are few (a word the planner has no statistics for, which it
//     puts at 0.5 % of the records), and then sort;
//   - a walk no longer than the matches expected, which the sort would
//     read as well;
//   - the sort of the matches (0.3 s for that last name's 129,342).
func (s *Store) List(ctx context.Context, p *app.Principal, r app.Resource, q app.ListQuery) (Page, error) {
	// Fields go into the SQL as they are: only r's own keys may.
	known := r.ListFields()
	for _, f := range q.Fields {
		if !slices.Contains(known, f) {
			return Page{}, app.Errorf(app.EINVALID, "unknown field %q", f).In("fields")
		}
	}
	pool := s.reader(ctx)
	if len(q.Words) == 0 {
		return s.list(ctx, pool, p, r, q, 0, false)
	}
	tsquery := searchQuery(q.Words)
	expected, err := s.expectedMatches(ctx, pool, p, r, tsquery)
	if err != nil {
		return Page{}, err
	}
	dense := s.denseAt()
	if expected < dense {
		return s.list(ctx, pool, p, r, q, 0, true)
	}
	short := s.shortWalk(q.Limit)
	page, err := s.list(ctx, pool, p, r, q, min(short, expected), false)
	if err != nil || page.Next != "" {
		return page, err
	}
	few, err := s.fewMatches(ctx, pool, p, r, tsquery, dense)
	if err != nil {
		return Page{}, err
	}
	if !few && expected > short {
		page, err := s.list(ctx, pool, p, r, q, expected, false)
		if err != nil || page.Next != "" {
			return page, err
		}
	}
	return s.list(ctx, pool, p, r, q, 0, true)
}

// shortWalk rows a page item (and at least minWalk) are walked first: a
// search matching 1 record in 100 along the sort order fills its page.
const (
	shortWalk = 100
	minWalk   = 2000
)

func (s *Store) shortWalk(limit int) int {
	if s.walk > 0 { // tests
		return s.walk
	}
	return max(minWalk, shortWalk*(limit+1))
}

// searchQuery is the prefix full-text query of a search's words.
func searchQuery(words []string) string { return strings.Join(words, ":* & ") + ":*" }

// list runs one page's query (listSQL), and counts the total (?total=1)
// where a walk filled the page.
func (s *Store) list(ctx context.Context, pool *pgxpool.Pool, p *app.Principal, r app.Resource, q app.ListQuery, walk int, sorted bool) (Page, error) {
	st := listSQL(p, r, q, walk, sorted)
	var page Page
	if q.Total && walk == 0 {
		if err := s.countList(ctx, pool, r, st.counted, st.countArgs, &page); err != nil {
			return Page{}, err
		}
	}
	rows, err := pool.Query(ctx, st.sql, st.args...)
	if err != nil {
		return Page{}, listError(err, r.Name, q)
	}
	page.Items = make([]json.RawMessage, 0, q.Limit)
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
	if err := listError(rows.Err(), r.Name, q); err != nil {
		return Page{}, err
	}
	if q.Total && walk > 0 && page.Next != "" {
		if err := s.countList(ctx, pool, r, st.counted, st.countArgs, &page); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

// listStatement is a page's query, and what its total counts: the
// conditions (the search's included) without the cursor.
type listStatement struct {
	sql       string
	args      args
	counted   []string
	countArgs args
}

// listSQL builds a page's query. walk > 0 bounds the rows of the sort
// index it reads before the search filters them; sorted hides the sort
// index from the planner, so that a search's matches are found through
// the search index and sorted.
func listSQL(p *app.Principal, r app.Resource, q app.ListQuery, walk int, sorted bool) listStatement {
	key := sortKeys[r.Name][q.Sort]
	if sorted {
		key.expr = noIndex[key.typ](key.expr)
	}
	var a args
	var where []string
	var ownersArg string
	if owners := p.Owners(); owners != nil {
		ownersArg = a.add(owners)
		where = append(where, "t.owner_id = ANY("+ownersArg+")")
	}
	var search string
	if len(q.Words) > 0 {
		search = "t.search @@ to_tsquery('simple', " + a.add(searchQuery(q.Words)) + ")"
		if walk == 0 {
			where = append(where, search)
		}
	}
	for i, col := range q.Filters.Columns {
		where = append(where, "t."+col+" = "+a.add(q.Filters.Values[i]))
	}
	st := listStatement{counted: slices.Clip(where), countArgs: slices.Clip(a)}
	if walk > 0 {
		st.counted = append(st.counted, search)
	}
	dir, cmp := "", ">"
	if q.Desc {
		dir, cmp = " DESC", "<"
	}
	// The id sort is its own tie-break: the cursor and the order name it
	// once, so that the primary key's index matches them as they are.
	byID := q.Sort == "id"
	if q.After != nil {
		if byID {
			where = append(where, fmt.Sprintf("%s %s %s", key.expr, cmp, a.add(q.After.ID)))
		} else {
			where = append(where, fmt.Sprintf("(%s, t.id) %s (%s::%s, %s)", key.expr, cmp, a.add(q.After.Value), key.typ, a.add(q.After.ID)))
		}
	}
	order := fmt.Sprintf(" ORDER BY %s%s, t.id%s", key.expr, dir, dir)
	if byID {
		order = fmt.Sprintf(" ORDER BY %s%s", key.expr, dir)
	}
	from := r.Name + " t"
	if len(where) > 0 {
		from += " WHERE " + strings.Join(where, " AND ")
	}
	if walk > 0 {
		// The walk's first rows in sort order, then the search: the
		// planner cannot move the filter below the LIMIT, so the walk
		// reads walk rows at most.
		from = "(SELECT * FROM " + from + order + fmt.Sprintf(" LIMIT %d) t WHERE %s", walk, search)
	}
	st.sql = "SELECT " + listJSON(r, ownersArg, q.Fields) + ", " + key.expr + "::text, t.id FROM " + from + order + fmt.Sprintf(" LIMIT %d", q.Limit+1)
	st.args = a
	return st
}

// countList sets page's total: the records matching where (the list's
// conditions before its cursor), counted up to app.TotalCap.
func (s *Store) countList(ctx context.Context, pool *pgxpool.Pool, r app.Resource, where []string, a args, page *Page) error {
	sql := "SELECT count(*) FROM (SELECT 1 FROM " + r.Name + " t"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += fmt.Sprintf(" LIMIT %d) x", app.TotalCap+1)
	var n int64
	if err := pool.QueryRow(ctx, sql, a...).Scan(&n); err != nil {
		return dbError(err, r.Name)
	}
	if n > app.TotalCap {
		n, page.TotalCapped = app.TotalCap, true
	}
	page.Total = &n
	return nil
}

// listError blames ?after= for a value PostgreSQL could not read: a cursor
// is opaque, so only a forged one carries a value of the wrong type.
func listError(err error, name string, q app.ListQuery) error {
	var pg *pgconn.PgError
	if q.After != nil && errors.As(err, &pg) && strings.HasPrefix(pg.Code, "22") {
		return app.Errorf(app.EINVALID, "is not a cursor of this list; use the \"next\" value of the previous page").In("after")
	}
	return dbError(err, name)
}

// denseLimit is the number of matches from which a search counts as dense:
// then walking the sort index finds a page of matches quickly.
const denseLimit = 2000

func (s *Store) denseAt() int {
	if s.dense > 0 { // tests
		return s.dense
	}
	return denseLimit
}

// expectedMatches is the planner's estimate of the records p may see that
// match tsquery.
func (s *Store) expectedMatches(ctx context.Context, pool *pgxpool.Pool, p *app.Principal, r app.Resource, tsquery string) (int, error) {
	sql, a := matchesSQL(p, r, tsquery)
	var raw []byte
	if err := pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, a...).Scan(&raw); err != nil {
		return 0, dbError(err, r.Name)
	}
	var plans []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		return 0, fmt.Errorf("%s: the planner's estimate: %s", r.Name, raw)
	}
	return int(plans[0].Plan.Rows), nil
}

// matchesSQL selects the records p may see that match tsquery: what the
// planner estimates and what fewMatches counts.
func matchesSQL(p *app.Principal, r app.Resource, tsquery string) (string, args) {
	var a args
	sql := "SELECT 1 FROM " + r.Name + " t WHERE t.search @@ to_tsquery('simple', " + a.add(tsquery) + ")"
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	return sql, a
}

// fewMatches counts, through the search index, whether fewer than limit
// records p may see match tsquery.
func (s *Store) fewMatches(ctx context.Context, pool *pgxpool.Pool, p *app.Principal, r app.Resource, tsquery string, limit int) (bool, error) {
	matches, a := matchesSQL(p, r, tsquery)
	sql := fmt.Sprintf("SELECT count(*) FROM (%s LIMIT %d) m", matches, limit)
	var n int
	if err := pool.QueryRow(ctx, sql, a...).Scan(&n); err != nil {
		return false, dbError(err, r.Name)
	}
	return n < limit, nil
}

// accountDetail adds the latest 20 contacts, opportunities and activities
// among those the caller may see (owners as in ownedBy): an account page
// is no window onto other owners' records.
func accountDetail(owners string) string {
	part := func(table, alias string) string {
		return fmt.Sprintf("(SELECT coalesce(jsonb_agg(x.j), '[]') FROM (SELECT to_jsonb(%[2]s) - 'search' AS j FROM %[1]s %[2]s WHERE %[2]s.account_id = t.id%[3]s ORDER BY %[2]s.updated_at DESC LIMIT 20) x)",
			table, alias, ownedBy(alias, owners))
	}
	return " || jsonb_build_object('contacts', " + part("contacts", "c") + ", 'opportunities', " + part("opportunities", "o") +
		", 'activities', " + part("activities", "v") + ")"
}

// Get returns one record as JSON; ENOTFOUND if it does not exist or p may
// not see it. Single records are read from the primary: a client usually
// fetches what it has just created or changed.
func (s *Store) Get(ctx context.Context, p *app.Principal, r app.Resource, id int64) (json.RawMessage, error) {
	var a args
	idArg, ownersArg := a.add(id), ""
	if owners := p.Owners(); owners != nil {
		ownersArg = a.add(owners)
	}
	sql := "SELECT " + recordJSON
	if r.Name == "accounts" {
		sql += accountDetail(ownersArg)
	}
	sql += " FROM " + r.Name + " t WHERE t.id = " + idArg + ownedBy("t", ownersArg)
	var b []byte
	if err := s.pri().QueryRow(ctx, sql, a...).Scan(&b); err != nil {
		return nil, dbError(err, singular(r.Name))
	}
	return b, nil
}

// Create inserts a record p makes and returns it as JSON. A deal's first
// stage goes into its stage history in the same statement.
func (s *Store) Create(ctx context.Context, p *app.Principal, r app.Resource, c app.Changes) (json.RawMessage, error) {
	var a args
	marks := make([]string, len(c.Values))
	for i, v := range c.Values {
		marks[i] = a.add(v)
	}
	sql := fmt.Sprintf("INSERT INTO %s AS t (%s) VALUES (%s) RETURNING %s",
		r.Name, strings.Join(c.Columns, ", "), strings.Join(marks, ", "), recordJSON)
	if r.Name == "opportunities" {
		sql = fmt.Sprintf("WITH t AS (INSERT INTO opportunities (%s) VALUES (%s) RETURNING *), "+
			"h AS (INSERT INTO opportunity_stages (opportunity_id, to_stage, changed_by) SELECT id, stage, %s FROM t) SELECT %s FROM t",
			strings.Join(c.Columns, ", "), strings.Join(marks, ", "), a.add(p.User.ID), recordJSON)
	}
	var b []byte
	if err := s.pri().QueryRow(ctx, sql, a...).Scan(&b); err != nil {
		return nil, dbError(err, singular(r.Name))
	}
	s.wrote(ctx)
	return b, nil
}

// Update applies a partial update to a record p may change and returns it.
// A deal whose stage it changes gains a row of stage history, from the
// stage it had under the row lock, in the same statement.
func (s *Store) Update(ctx context.Context, p *app.Principal, r app.Resource, id int64, c app.Changes) (json.RawMessage, error) {
	var a args
	sets := make([]string, 0, len(c.Columns)+1)
	for i, col := range c.Columns {
		sets = append(sets, col+" = "+a.add(c.Values[i]))
	}
	sets = append(sets, "updated_at = now()")
	where := "t.id = " + a.add(id)
	if owners := p.Owners(); owners != nil {
		where += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	sql := "UPDATE " + r.Name + " t SET " + strings.Join(sets, ", ") + " WHERE " + where + " RETURNING " + recordJSON
	if _, ok := c.Get("stage"); ok && r.Name == "opportunities" {
		sql = "WITH old AS (SELECT t.id, t.stage FROM opportunities t WHERE " + where + " FOR UPDATE), " +
			"t AS (UPDATE opportunities u SET " + strings.Join(sets, ", ") + " FROM old WHERE u.id = old.id RETURNING u.*, old.stage AS old_stage), " +
			"h AS (INSERT INTO opportunity_stages (opportunity_id, from_stage, to_stage, changed_by) " +
			"SELECT id, old_stage, stage, " + a.add(p.User.ID) + " FROM t WHERE old_stage IS DISTINCT FROM stage) " +
			"SELECT " + recordJSON + " - 'old_stage' FROM t"
	}
	var b []byte
	if err := s.pri().QueryRow(ctx, sql, a...).Scan(&b); err != nil {
		return nil, dbError(err, singular(r.Name))
	}
	s.wrote(ctx)
	return b, nil
}

// StageHistory returns the stages a deal p may see has entered, newest
// first, at most 100: {"items": [{from_stage, to_stage, changed_at,
// changed_by, changed_by_name}]}. ENOTFOUND if p may not see the deal.
func (s *Store) StageHistory(ctx context.Context, p *app.Principal, id int64) (json.RawMessage, error) {
	var a args
	sql := `SELECT jsonb_build_object('items', coalesce((SELECT jsonb_agg(x.j ORDER BY x.changed_at DESC, x.id DESC) FROM (
			SELECT h.id, h.changed_at, jsonb_build_object('from_stage', h.from_stage, 'to_stage', h.to_stage,
				'changed_at', h.changed_at, 'changed_by', h.changed_by, 'changed_by_name', u.name) AS j
			FROM opportunity_stages h LEFT JOIN users u ON u.id = h.changed_by
			WHERE h.opportunity_id = t.id ORDER BY h.changed_at DESC, h.id DESC LIMIT 100) x), '[]'))
		FROM opportunities t WHERE t.id = ` + a.add(id)
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	var b []byte
	// From the primary: the page asks right after a stage change.
	if err := s.pri().QueryRow(ctx, sql, a...).Scan(&b); err != nil {
		return nil, dbError(err, "opportunity")
	}
	return b, nil
}

// refTables are the references to other records a client may set, and the
// table each points into.
var refTables = map[string]string{"account_id": "accounts", "contact_id": "contacts", "opportunity_id": "opportunities"}

// CheckRefs refuses, with EINVALID on the field, references in c to records
// p may not see: a record attached to another owner's account would show
// that account's name (account_name) to p and appear on its page.
func (s *Store) CheckRefs(ctx context.Context, p *app.Principal, c app.Changes) error {
	owners := p.Owners()
	if owners == nil {
		return nil // admins see everything; the foreign key refuses what does not exist
	}
	for i, col := range c.Columns {
		if id, ok := c.Values[i].(int64); ok && refTables[col] != "" {
			if err := s.checkVisible(ctx, owners, col, []int64{id}); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckImportRefs is CheckRefs for the account_id column of a contacts
// import (column col of rows), with one query for all of them.
func (s *Store) CheckImportRefs(ctx context.Context, p *app.Principal, columns []string, rows [][]any) error {
	owners := p.Owners()
	col := slices.Index(columns, "account_id")
	if owners == nil || col < 0 {
		return nil
	}
	var ids []int64
	for _, row := range rows {
		if id, ok := row[col].(int64); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return s.checkVisible(ctx, owners, "account_id", slices.Compact(ids))
}

// checkVisible fails unless every one of ids (sorted, distinct) is a
// record of owners in the table col refers to.
func (s *Store) checkVisible(ctx context.Context, owners []int64, col string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	table := refTables[col]
	var missing *int64
	err := s.pri().QueryRow(ctx, "SELECT min(i) FROM unnest($1::bigint[]) i WHERE NOT EXISTS (SELECT 1 FROM "+table+
		" t WHERE t.id = i AND t.owner_id = ANY($2))", ids, owners).Scan(&missing)
	if err != nil {
		return dbError(err, singular(table))
	}
	if missing != nil {
		return app.Errorf(app.EINVALID, "no %s %d that you can see", singular(table), *missing).In(col)
	}
	return nil
}

// Delete removes a record p may change. An account goes only when none of
// its contacts, opportunities and activities belong to someone p may not
// act for (ECONFLICT): its deletion would cascade over them.
func (s *Store) Delete(ctx context.Context, p *app.Principal, r app.Resource, id int64) error {
	if r.Name == "accounts" && p.Owners() != nil {
		return s.deleteAccount(ctx, p.Owners(), id)
	}
	var a args
	sql := "DELETE FROM " + r.Name + " t WHERE t.id = " + a.add(id)
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	tag, err := s.pri().Exec(ctx, sql, a...)
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

// deleteAccount deletes an account of owners unless other owners' records
// hang on it. The row lock holds off records attached meanwhile: inserting
// a reference takes a key-share lock on the account, which FOR UPDATE blocks.
func (s *Store) deleteAccount(ctx context.Context, owners []int64, id int64) error {
	tx, err := s.pri().Begin(ctx)
	if err != nil {
		return dbError(err, "account")
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var others int64
	err = tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM contacts c WHERE c.account_id = a.id AND NOT c.owner_id = ANY($2)) +
		(SELECT count(*) FROM opportunities o WHERE o.account_id = a.id AND NOT o.owner_id = ANY($2)) +
		(SELECT count(*) FROM activities v WHERE v.account_id = a.id AND NOT v.owner_id = ANY($2))
		FROM accounts a WHERE a.id = $1 AND a.owner_id = ANY($2) FOR UPDATE OF a`, id, owners).Scan(&others)
	if err != nil {
		return dbError(err, "account")
	}
	if others > 0 {
		return app.Errorf(app.ECONFLICT, "the account has %d contacts, opportunities or activities of other owners; "+
			"their owners must move them first, or an admin delete the account", others)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM accounts WHERE id = $1", id); err != nil {
		return dbError(err, "account")
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(err, "account")
	}
	s.wrote(ctx)
	return nil
}
