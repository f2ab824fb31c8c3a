package app

import (
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
)

// ContactCSVColumns are the columns of a contacts CSV file, in export order.
var ContactCSVColumns = []string{"first_name", "last_name", "email", "phone", "title", "account_id"}

// ParseContactsCSV reads a contacts CSV file with a header line naming some
// of ContactCSVColumns (first_name and last_name are required) and returns
// the columns and validated rows, ready for COPY. It stops with an error
// naming the line at the first bad row, or after maxRows rows.
func ParseContactsCSV(r io.Reader, maxRows int) (columns []string, rows [][]any, err error) {
	contacts, _ := ResourceNamed("contacts")
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, Errorf(EINVALID, "CSV is empty; the first line must name the columns, e.g. %s", strings.Join(ContactCSVColumns, ","))
	}
	if err != nil {
		return nil, nil, Errorf(EINVALID, "CSV header: %v", err)
	}
	fields := make([]Field, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) // a BOM from spreadsheet exports
		j := slices.IndexFunc(contacts.Fields, func(f Field) bool { return f.Name == h })
		if j < 0 || !slices.Contains(ContactCSVColumns, h) || slices.Contains(columns, h) {
			return nil, nil, Errorf(EINVALID, "CSV header: unknown or repeated column %q; use %s", h, strings.Join(ContactCSVColumns, ",")).In(h)
		}
		fields[i] = contacts.Fields[j]
		columns = append(columns, h)
	}
	for _, req := range []string{"first_name", "last_name"} {
		if !slices.Contains(columns, req) {
			return nil, nil, Errorf(EINVALID, "CSV header: column %s is required", req).In(req)
		}
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return columns, rows, nil
		}
		if err != nil {
			return nil, nil, Errorf(EINVALID, "CSV: %v", err)
		}
		if len(rows) == maxRows {
			return nil, nil, Errorf(ETOOLARGE, "CSV has more than %d rows; split it", maxRows)
		}
		row, err := csvRow(fields, rec)
		if err != nil {
			return nil, nil, Errorf(EINVALID, "CSV line %d: %v", line, err)
		}
		rows = append(rows, row)
	}
}

func csvRow(fields []Field, rec []string) ([]any, error) {
	row := make([]any, len(fields))
	for i, f := range fields {
		s := strings.TrimSpace(rec[i])
		if s == "" && !f.Required {
			continue // NULL
		}
		v, err := f.decode(filterJSON(f, s))
		if err != nil {
			return nil, err
		}
		row[i] = v
	}
	return row, nil
}
