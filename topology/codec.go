package topology

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan"
)

// The plan file is decoded by hand from yaml.Node rather than by
// yaml.Unmarshal into the structs: that is what gives every error its line
// and field path, lets "60%" and "25M" stand for numbers, and lets an unknown
// key be answered with the nearest known one. The same field tables drive
// the encoder, so the two cannot drift apart.

// field binds one YAML key to a value of a plan struct, in both directions.
type field struct {
	key  string
	dec  func(d *decoder, n *yaml.Node, path string) error
	enc  func() *yaml.Node
	omit func() bool // written only when this returns false; nil: always written
}

// always makes f written even when it holds its zero value.
func always(f field) field { f.omit = nil; return f }

// decoder carries the file name for error places and remembers the line of
// every field path it saw, so that validation errors found later can point
// into the file too.
type decoder struct {
	file  string
	lines map[string]int
}

// errorf returns an EINVALID error placed at n's line and path.
func (d *decoder) errorf(n *yaml.Node, path, hint, format string, args ...any) error {
	return crmplan.Errorf(crmplan.EINVALID, format, args...).
		In(d.place(n.Line, path)).Try("%s", hint)
}

// place renders "file:line: path", leaving out what is unknown.
func (d *decoder) place(line int, path string) string {
	at := d.file
	if line > 0 {
		at = fmt.Sprintf("%s:%d", d.file, line)
	}
	if path == "" {
		return at
	}
	return at + ": " + path
}

// lineOf finds the line of path or, failing that, of its nearest ancestor:
// a missing field is reported where its parent is.
func (d *decoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// mapping decodes a YAML mapping through a field table. A null value counts
// as an empty mapping.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "indent the fields of "+orRoot(path)+" under it", "%s must be a mapping of keys to values", orRoot(path))
	}
	byKey := make(map[string]field, len(fields))
	keys := make([]string, len(fields))
	for i, f := range fields {
		byKey[f.key], keys[i] = f, f.key
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k, path, "use plain words as keys", "keys must be plain words")
		}
		sub := join(path, k.Value)
		f, ok := byKey[k.Value]
		if !ok {
			return d.unknownKey(k, path, sub, keys)
		}
		if seen[k.Value] {
			return d.errorf(k, sub, "remove one of the two", "%q is given twice", k.Value)
		}
		seen[k.Value] = true
		d.lines[sub] = k.Line
		if err := f.dec(d, v, sub); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) unknownKey(k *yaml.Node, path, sub string, keys []string) error {
	if len(k.Value) > crmplan.MaxQuoted {
		sub = path // the message quotes the key, cut short; the place would hold it whole
	}
	if c, ok := nearest(k.Value, keys); ok {
		return d.errorf(k, sub, fmt.Sprintf("rename %q to %q on line %d", k.Value, c, k.Line),
			"unknown field %q (did you mean %q?)", k.Value, c)
	}
	return d.errorf(k, sub, "remove it; "+orRoot(path)+" takes "+strings.Join(keys, ", "),
		"unknown field %q", k.Value)
}

func orRoot(path string) string {
	if path == "" {
		return "the plan"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalar returns the text of a scalar node; null and collections are errors.
func (d *decoder) scalar(n *yaml.Node, path, example string) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", d.errorf(n, path, path+": "+example, "must be a single value")
	}
	if isNull(n) {
		return "", d.errorf(n, path, path+": "+example, "needs a value")
	}
	return n.Value, nil
}

// encodeMapping is the inverse of mapping.
func encodeMapping(fields []field) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range fields {
		if f.omit != nil && f.omit() {
			continue
		}
		m.Content = append(m.Content, text(f.key), f.enc())
	}
	return m
}

// text is a string scalar; the !!str tag makes the encoder quote values that
// would otherwise read back as numbers or booleans ("123", "yes").
func text(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// plain is a scalar written as is: numbers and the human forms "60%", "25M".
func plain(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func textField[T ~string](key string, p *T) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			s, err := d.scalar(n, path, "a word")
			*p = T(s)
			return err
		},
		enc:  func() *yaml.Node { return text(string(*p)) },
		omit: func() bool { return *p == "" },
	}
}

func intField(key string, p *int, example string) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			v, err := d.count(n, path, example)
			if err == nil && int64(int(v)) != v {
				return d.errorf(n, path, path+": "+example, "%d is too large", v)
			}
			*p = int(v)
			return err
		},
		enc:  func() *yaml.Node { return plain(strconv.Itoa(*p)) },
		omit: func() bool { return *p == 0 },
	}
}

// countField is a whole number written with a suffix by format (formatCount
// for records, formatBytes for memory).
func countField(key string, p *int64, example string, format func(int64) string) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) (err error) {
			*p, err = d.count(n, path, example)
			return err
		},
		enc:  func() *yaml.Node { return plain(format(*p)) },
		omit: func() bool { return *p == 0 },
	}
}

func (d *decoder) count(n *yaml.Node, path, example string) (int64, error) {
	s, err := d.scalar(n, path, example)
	if err != nil {
		return 0, err
	}
	v, err := ParseCount(s)
	if err != nil {
		return 0, d.errorf(deref(n), path, path+": "+example, "%s", messageOf(err))
	}
	return v, nil
}

func numberField(key string, p *float64, example string) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			s, err := d.scalar(n, path, example)
			if err != nil {
				return err
			}
			v, ok := parseNumber(s)
			if !ok {
				return d.errorf(deref(n), path, path+": "+example, "%q is not a number", s)
			}
			*p = v
			return nil
		},
		enc:  func() *yaml.Node { return plain(formatNumber(*p)) },
		omit: func() bool { return *p == 0 },
	}
}

func shareField(key string, p *float64, example string) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) (err error) {
			*p, err = d.share(n, path, example)
			return err
		},
		enc:  func() *yaml.Node { return plain(formatShare(*p)) },
		omit: func() bool { return *p == 0 },
	}
}

func (d *decoder) share(n *yaml.Node, path, example string) (float64, error) {
	s, err := d.scalar(n, path, example)
	if err != nil {
		return 0, err
	}
	v, err := ParseShare(s)
	if err != nil {
		return 0, d.errorf(deref(n), path, path+": "+example, "%s", messageOf(err))
	}
	return v, nil
}

func boolField(key string, p *bool) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			s, err := d.scalar(n, path, "true")
			switch {
			case err != nil:
				return err
			case s == "true":
				*p = true
			case s == "false":
				*p = false
			default:
				return d.errorf(deref(n), path, path+": true", "%q is not true or false", s)
			}
			return nil
		},
		enc:  func() *yaml.Node { return plain(strconv.FormatBool(*p)) },
		omit: func() bool { return !*p },
	}
}

func structField[T any](key string, p *T, fields func(*T) []field, omit func() bool) field {
	return field{
		key:  key,
		dec:  func(d *decoder, n *yaml.Node, path string) error { return d.mapping(n, path, fields(p)) },
		enc:  func() *yaml.Node { return encodeMapping(fields(p)) },
		omit: omit,
	}
}

func ptrField[T any](key string, p **T, fields func(*T) []field) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			v := new(T)
			*p = v
			return d.mapping(n, path, fields(v))
		},
		enc:  func() *yaml.Node { return encodeMapping(fields(*p)) },
		omit: func() bool { return *p == nil },
	}
}

// sequence calls item for every element of a YAML sequence; null is empty.
func (d *decoder) sequence(n *yaml.Node, path string, item func(n *yaml.Node, path string) error) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return d.errorf(n, path, "write each entry on its own line starting with \"- \"", "%s must be a list", path)
	}
	for i, c := range n.Content {
		sub := fmt.Sprintf("%s[%d]", path, i)
		d.lines[sub] = deref(c).Line
		if err := item(c, sub); err != nil {
			return err
		}
	}
	return nil
}

// listField is a list of mappings; flow writes each item on one line
// ("- {name: dmz, kind: dmz}"), for short items like zones and links.
func listField[T any](key string, p *[]T, fields func(*T) []field, flow bool) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			return d.sequence(n, path, func(c *yaml.Node, sub string) error {
				var v T
				if err := d.mapping(c, sub, fields(&v)); err != nil {
					return err
				}
				*p = append(*p, v)
				return nil
			})
		},
		enc: func() *yaml.Node {
			s := &yaml.Node{Kind: yaml.SequenceNode}
			for i := range *p {
				m := encodeMapping(fields(&(*p)[i]))
				if flow {
					m.Style = yaml.FlowStyle
				}
				s.Content = append(s.Content, m)
			}
			return s
		},
		omit: func() bool { return len(*p) == 0 },
	}
}

func textListField(key string, p *[]string) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			return d.sequence(n, path, func(c *yaml.Node, sub string) error {
				s, err := d.scalar(c, sub, "a word")
				*p = append(*p, s)
				return err
			})
		},
		enc: func() *yaml.Node {
			s := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, v := range *p {
				s.Content = append(s.Content, text(v))
			}
			return s
		},
		omit: func() bool { return len(*p) == 0 },
	}
}

// messageOf is the message of a *crmplan.Error without its place.
func messageOf(err error) string {
	if e, ok := err.(*crmplan.Error); ok {
		return e.Message
	}
	return err.Error()
}
