package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FieldType says how a JSON value is checked and what it becomes in SQL.
type FieldType int

const (
	Text  FieldType = iota // string of at most Max characters
	Email                  // an e-mail address
	Ref                    // id (int64 > 0) of another record or user
	Money                  // a number from 0 to 1e12 with at most 2 decimals
	Int                    // an integer from 0 to Max
	Date                   // "2006-01-02"
	Time                   // RFC 3339
	Bool                   // true or false
	Enum                   // one of Enum
)

// Field is one writable field of a record kind.
type Field struct {
	Name     string
	Type     FieldType
	Required bool // on create; it may not be set to null later either
	Max      int
	Enum     []string
	Default  any // on create, when the field is absent
}

// Changes are the validated column values of a create or a partial update,
// in the order of the kind's fields. A nil value means SQL NULL.
type Changes struct {
	Columns []string
	Values  []any
}

// Get returns the value of column name and whether it is set.
func (c Changes) Get(name string) (any, bool) {
	i := slices.Index(c.Columns, name)
	if i < 0 {
		return nil, false
	}
	return c.Values[i], true
}

// Set sets column name, replacing an earlier value.
func (c *Changes) Set(name string, v any) {
	if i := slices.Index(c.Columns, name); i >= 0 {
		c.Values[i] = v
		return
	}
	c.Columns = append(c.Columns, name)
	c.Values = append(c.Values, v)
}

// readOnly fields are in every response but never written by clients.
var readOnly = []string{"id", "created_at", "updated_at"}

// DecodeObject parses body as exactly one JSON object, rejecting trailing
// data and duplicate keys, into its raw members.
func DecodeObject(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// Walk the members by hand: json.Unmarshal into a map keeps the last of
	// two equal keys, so {"owner_id":1,"owner_id":2} would check one value
	// here and let a proxy or log that keeps the first see another.
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, Errorf(EINVALID, "request body is empty; send a JSON object")
	}
	if err != nil {
		return nil, Errorf(EINVALID, "request body is not valid JSON: %v", err)
	}
	if tok == nil {
		return nil, Errorf(EINVALID, "request body must be a JSON object, not null")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, Errorf(EINVALID, "request body must be a JSON object")
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, Errorf(EINVALID, "request body is not valid JSON: %v", err)
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, Errorf(EINVALID, "request body is not valid JSON: %v", err)
		}
		if _, dup := obj[key]; dup {
			return nil, Errorf(EINVALID, "appears twice in the request body").In(key)
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, Errorf(EINVALID, "request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Errorf(EINVALID, "request body has data after the JSON object")
	}
	return obj, nil
}

// DecodeFields checks obj against fields. On create, required fields must be
// present and absent ones get their defaults.
func DecodeFields(obj map[string]json.RawMessage, fields []Field, create bool) (Changes, error) {
	for k := range obj {
		if slices.Contains(readOnly, k) {
			return Changes{}, Errorf(EINVALID, "is read-only").In(k)
		}
		if !slices.ContainsFunc(fields, func(f Field) bool { return f.Name == k }) {
			return Changes{}, Errorf(EINVALID, "unknown field").In(k)
		}
	}
	var c Changes
	for _, f := range fields {
		raw, ok := obj[f.Name]
		if !ok {
			if create && f.Default != nil {
				c.Set(f.Name, f.Default)
			} else if create && f.Required {
				return Changes{}, Errorf(EINVALID, "is required").In(f.Name)
			}
			continue
		}
		v, err := f.decode(raw)
		if err != nil {
			return Changes{}, err
		}
		c.Set(f.Name, v)
	}
	if !create && len(c.Columns) == 0 {
		return Changes{}, Errorf(EINVALID, "nothing to change: send at least one field")
	}
	return c, nil
}

func (f Field) decode(raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		if f.Required || f.Type == Bool {
			return nil, Errorf(EINVALID, "may not be null").In(f.Name)
		}
		return nil, nil
	}
	v, err := f.value(raw)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e.In(f.Name)
		}
		return nil, Errorf(EINVALID, "%v", err).In(f.Name)
	}
	return v, nil
}

func (f Field) value(raw json.RawMessage) (any, error) {
	switch f.Type {
	case Bool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, errors.New("must be true or false")
		}
		return b, nil
	case Ref, Int, Money:
		return f.number(raw)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errors.New("must be a string")
	}
	return f.text(s)
}

func (f Field) number(raw json.RawMessage) (any, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, errors.New("must be a number")
	}
	switch f.Type {
	case Ref:
		id, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || id <= 0 {
			return nil, errors.New("must be a positive integer id")
		}
		return id, nil
	case Int:
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || i < 0 || i > int64(f.Max) {
			return nil, fmt.Errorf("must be an integer from 0 to %d", f.Max)
		}
		return i, nil
	}
	x, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(x) || x < 0 || x > 1e12 {
		return nil, errors.New("must be an amount from 0 to 1000000000000")
	}
	if _, frac, ok := strings.Cut(string(n), "."); ok && len(frac) > 2 || strings.ContainsAny(string(n), "eE") && x != math.Round(x*100)/100 {
		return nil, errors.New("must have at most 2 decimals")
	}
	return x, nil
}

func (f Field) text(s string) (any, error) {
	switch f.Type {
	case Date:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, errors.New("must be a date like 2025-12-31")
		}
		return d, nil
	case Time:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, errors.New("must be a time like 2025-12-31T09:30:00Z")
		}
		return t, nil
	case Enum:
		if !slices.Contains(f.Enum, s) {
			return nil, fmt.Errorf("must be one of %s", strings.Join(f.Enum, ", "))
		}
		return s, nil
	}
	s = strings.TrimSpace(s)
	if err := CheckText(s, f.Max); err != nil {
		return nil, err
	}
	if f.Required && s == "" {
		return nil, errors.New("may not be empty")
	}
	if f.Type == Email && s != "" {
		if err := CheckEmail(s); err != nil {
			return nil, err
		}
		s = NormalizeEmail(s)
	}
	return s, nil
}

// CheckText rejects text PostgreSQL cannot store (NUL, invalid UTF-8),
// control characters other than newline and tab, and text over max runes.
func CheckText(s string, max int) error {
	if !utf8.ValidString(s) {
		return errors.New("must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("must be at most %d characters, got %d", max, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return errors.New("must not contain control characters")
		}
	}
	return nil
}

// CheckEmail accepts a bare address like ann@example.com.
func CheckEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return errors.New("must be an e-mail address like ann@example.com")
	}
	return nil
}
