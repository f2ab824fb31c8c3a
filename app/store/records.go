package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/app"
)

// recordJSON is a record as the API returns it: every column but the
// search vector.
const recordJSON = "to_jsonb(t) - 'search'"

// ownedBy is the condition that alias's records belong to the owners of
// placeholder owners; "" when the caller sees everything.
func ownedBy(alias, owners string) string {
	if owners == "" {
		return ""
	}
	return " AND " + alias + ".owner_id = ANY(" + owners + ")"
}

// args collects query parameters and returns their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
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
