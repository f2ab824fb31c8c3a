package store

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/app"
)

// ImportContacts inserts parsed CSV rows (from app.ParseContactsCSV) owned
// by ownerID with COPY, all or nothing.
func (s *Store) ImportContacts(ctx context.Context, ownerID int64, columns []string, rows [][]any) (int64, error) {
	cols := append(append([]string{}, columns...), "owner_id")
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		return append(rows[i][:len(columns):len(columns)], ownerID), nil
	})
	n, err := s.pri().CopyFrom(ctx, pgx.Identifier{"contacts"}, cols, src)
	if err != nil {
		return 0, dbError(err, "contacts import")
	}
	s.wrote(ctx)
	return n, nil
}

// ExportContacts writes the contacts p may see as CSV with a header, in id
// order, streaming with COPY from the replica when it is current.
func (s *Store) ExportContacts(ctx context.Context, p *app.Principal, w io.Writer) (int64, error) {
	return s.ExportContactsMatching(ctx, p, app.ListQuery{}, w)
}

// ExportContactsMatching is ExportContacts of the contacts that match q:
// its search words and filters (its paging and sort do not apply).
func (s *Store) ExportContactsMatching(ctx context.Context, p *app.Principal, q app.ListQuery, w io.Writer) (int64, error) {
	// COPY takes no parameters: every value below goes into the SQL as a
	// literal, and each is of a kind that cannot break out of one: ids are
	// numbers, search words only letters and digits (app.SearchWords).
	var where []string
	if owners := p.Owners(); owners != nil {
		ids := make([]string, len(owners))
		for i, id := range owners {
			ids[i] = fmt.Sprint(id)
		}
		where = append(where, "owner_id IN ("+strings.Join(ids, ",")+")")
	}
	if len(q.Words) > 0 {
		tsquery := strings.Join(q.Words, ":* & ") + ":*"
		where = append(where, "search @@ to_tsquery('simple', '"+strings.ReplaceAll(tsquery, "'", "''")+"')")
	}
	for i, col := range q.Filters.Columns {
		id, ok := q.Filters.Values[i].(int64)
		if !ok {
			return 0, app.Errorf(app.EINVALID, "the export filters by ids only").In(col)
		}
		where = append(where, fmt.Sprintf("%s = %d", col, id))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	sql := "COPY (SELECT id, " + strings.Join(csvColumns(), ", ") + ", owner_id, updated_at FROM contacts" +
		cond + " ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)"
	conn, err := s.reader(ctx).Acquire(ctx)
	if err != nil {
		return 0, dbError(err, "contacts export")
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, w, sql)
	if err != nil {
		return 0, dbError(err, "contacts export")
	}
	return tag.RowsAffected(), nil
}

// csvColumns are the export's contact columns. Text a user typed gets a
// leading quote when a spreadsheet would read it as a formula
// (=HYPERLINK(...), +cmd|..., -2+3, @SUM(...)) or a cell break (tab, CR),
// as OWASP's CSV injection advice says; ids go out as they are.
func csvColumns() []string {
	contacts, _ := app.ResourceNamed("contacts")
	cols := make([]string, len(app.ContactCSVColumns))
	for i, name := range app.ContactCSVColumns {
		cols[i] = name
		for _, f := range contacts.Fields {
			if f.Name == name && (f.Type == app.Text || f.Type == app.Email) {
				cols[i] = fmt.Sprintf(`CASE WHEN %[1]s ~ E'^[-=+@\\t\\r]' THEN '''' || %[1]s ELSE %[1]s END AS %[1]s`, name)
			}
		}
	}
	return cols
}
