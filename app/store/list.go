package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
)

// Lists: a page of records in a sort order, with a search, filters and a
// cursor, and the strategy that answers a search at full scale (List).

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

// Page is one page of a list: JSON objects and the cursor of the next page;
// with ?total=1, the number of records the list holds, at most
// app.TotalCap, and whether there are more than that.
type Page struct {
	Items       []json.RawMessage `json:"items"`
	Next        string            `json:"next"`
	Total       *int64            `json:"total,omitempty"`
	TotalCapped bool              `json:"total_capped,omitempty"`
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
//   - a count through the search index, up to denseLimit, only when the
//     planner guessed (a word it has no statistics for, which it puts at
//     0.5 % of the records): cheap when the matches are few, and then
//     sort. A word the statistics know as common is not counted: the
//     index hands the count every match before the first is read (1.3 s
//     a count for a last name at 25M records, the replica's whole first
//     minute of load before the load's own writes filled the walks);
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
	sort := func() (Page, error) {
		s.steps[stepSort].Add(1)
		return s.list(ctx, pool, p, r, q, 0, true)
	}
	walk := func(rows int) (Page, error) {
		s.steps[stepWalk].Add(1)
		return s.list(ctx, pool, p, r, q, rows, false)
	}
	dense := s.denseAt()
	if expected < dense {
		return sort()
	}
	short := s.shortWalk(q.Limit)
	page, err := walk(min(short, expected))
	if err != nil || page.Next != "" {
		return page, err
	}
	guessed, err := s.guessed(ctx, pool, p, r, expected)
	if err != nil {
		return Page{}, err
	}
	few := false
	if guessed {
		s.steps[stepCount].Add(1)
		if few, err = s.fewMatches(ctx, pool, p, r, tsquery, dense); err != nil {
			return Page{}, err
		}
	}
	if !few && expected > short {
		page, err := walk(expected)
		if err != nil || page.Next != "" {
			return page, err
		}
	}
	return sort()
}

// The ways a search's page is looked for, counted by SearchSteps.
const (
	stepSort  = iota // the sort of the matches
	stepWalk         // a walk of the sort index, short or as long as the matches expected
	stepCount        // a count of the matches through the search index
	numSteps
)

// SearchSteps counts the searches' steps since the store opened, by name
// (sort, walk, count): for crm_search_steps_total.
func (s *Store) SearchSteps() map[string]uint64 {
	names := [numSteps]string{stepSort: "sort", stepWalk: "walk", stepCount: "count"}
	m := make(map[string]uint64, numSteps)
	for i, name := range names {
		m[name] = s.steps[i].Load()
	}
	return m
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

// unknownWord is a search no statistics know: the planner's estimate for
// it is its guess for any word it has none for.
const unknownWord = "zqxjvkwq:*"

// guessed says whether expected, the planner's estimate of a search's
// matches, is no more than its guess for a word it knows nothing of (for
// the same principal): then only a count tells few matches from many.
func (s *Store) guessed(ctx context.Context, pool *pgxpool.Pool, p *app.Principal, r app.Resource, expected int) (bool, error) {
	guess, err := s.expectedMatches(ctx, pool, p, r, unknownWord)
	return expected <= guess, err
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
