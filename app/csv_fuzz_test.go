package app

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseContactsCSV feeds arbitrary text to the contacts CSV import (the
// API's POST /contacts/import and the worker's import job). It must never
// panic; a refusal is EINVALID, or ETOOLARGE past the row cap; an accepted
// file has first_name and last_name among its columns and every row one
// value per column, with a value for each required field, and no NUL in a
// text.
func FuzzParseContactsCSV(f *testing.F) {
	for _, s := range []string{
		"first_name,last_name,email\nAda,Lovelace,ada@example.com\n",
		"\ufefffirst_name,last_name,phone,title,account_id\nA,B,+44 20 7946 0000,CEO,7\n",
		"first_name,last_name\n\"quoted, name\",\"with \"\"quotes\"\"\"\n",
		"first_name,last_name\nA,B\nC,D\nE,F\n",
		"first_name,last_name,first_name\nA,B,C\n",
		"last_name\nB\n",
		"first_name,last_name\nA\n",
		"",
	} {
		f.Add(s)
	}
	const maxRows = 2
	contacts, _ := ResourceNamed("contacts")
	f.Fuzz(func(t *testing.T, data string) {
		columns, rows, err := ParseContactsCSV(strings.NewReader(data), maxRows)
		if err != nil {
			if code := ErrorCode(err); code != EINVALID && code != ETOOLARGE {
				t.Fatalf("code %s for %v", code, err)
			}
			return
		}
		if !slices.Contains(columns, "first_name") || !slices.Contains(columns, "last_name") {
			t.Fatalf("accepted columns %v", columns)
		}
		if len(rows) > maxRows {
			t.Fatalf("%d rows accepted, cap %d", len(rows), maxRows)
		}
		for _, row := range rows {
			if len(row) != len(columns) {
				t.Fatalf("row %v for columns %v", row, columns)
			}
			for i, v := range row {
				j := slices.IndexFunc(contacts.Fields, func(f Field) bool { return f.Name == columns[i] })
				if contacts.Fields[j].Required && v == nil {
					t.Fatalf("required %s is empty in %q", columns[i], data)
				}
				if s, ok := v.(string); ok && strings.ContainsRune(s, 0) {
					t.Fatalf("NUL accepted in %s of %q", columns[i], data)
				}
			}
		}
	})
}
