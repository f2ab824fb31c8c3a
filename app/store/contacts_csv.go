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
	n, err := s.primary.CopyFrom(ctx, pgx.Identifier{"contacts"}, cols, src)
	if err != nil {
		return 0, dbError(err, "contacts import")
	}
	s.wrote(ctx)
	return n, nil
}

// ExportContacts writes the contacts p may see as CSV with a header, in id
// order, streaming with COPY from the replica when it is current.
func (s *Store) ExportContacts(ctx context.Context, p *app.Principal, w io.Writer) (int64, error) {
	where := ""
	if owners := p.Owners(); owners != nil {
		// COPY takes no parameters; the ids are numbers from our own database.
		ids := make([]string, len(owners))
		for i, id := range owners {
			ids[i] = fmt.Sprint(id)
		}
		where = " WHERE owner_id IN (" + strings.Join(ids, ",") + ")"
	}
	sql := "COPY (SELECT id, " + strings.Join(csvColumns(), ", ") + ", owner_id, updated_at FROM contacts" +
		where + " ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)"
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
