package topology

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan"
)

// DecodePlan reads a plan file. filename only names the file in errors.
//
// Decoding is strict: unknown keys, duplicate keys, values of the wrong
// shape and a second YAML document are errors. Shares may be written "60%"
// or 0.6, counts "25M", 25000000, "2.5e7" or "1.5k". The plan is validated
// (Plan.Validate) before it is returned.
//
// A plan is at most MaxPlanBytes long, and its aliases may repeat at most
// MaxAliasValues values in all: the decoder follows aliases itself, so a few
// kilobytes of nested aliases would otherwise make it walk (and remember the
// line of) billions of values.
//
// Every error is a *crmplan.Error with code EINVALID, placed at
// "file:line: field.path" and carrying a Try hint.
func DecodePlan(filename string, data []byte) (*Plan, error) {
	d := &decoder{file: filename, lines: map[string]int{}}
	if len(data) > MaxPlanBytes {
		return nil, tooLarge(filename)
	}
	root, err := d.document(data)
	if err != nil {
		return nil, err
	}
	p := &Plan{}
	if err := d.mapping(root, "", planFields(p)); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, d.locate(err)
	}
	return p, nil
}

// document parses data as exactly one YAML document and returns its root.
func (d *decoder) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, crmplan.Errorf(crmplan.EINVALID, "the plan file is empty").In(d.file).
				Try("crmplan size --named-users 3000 --write %s", d.file)
		}
		return nil, d.syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, d.syntaxError(err)
		}
		return nil, crmplan.Errorf(crmplan.EINVALID, "a plan file holds one YAML document, this one has more").
			In(d.place(extra.Line, "")).Try("remove the \"---\" line and what follows, or split the file")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, crmplan.Errorf(crmplan.EINVALID, "the plan file is empty").In(d.file).
			Try("crmplan size --named-users 3000 --write %s", d.file)
	}
	a := aliasBudget{sizes: map[*yaml.Node]int{}}
	if n := a.repeated(doc.Content[0]); n != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "aliases repeat more than %d values in all", MaxAliasValues).
			In(d.place(n.Line, "")).Try("write the values out instead of repeating large anchors with aliases")
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns the YAML parser's "yaml: line 3: ..." into a placed error.
func (d *decoder) syntaxError(err error) error {
	msg, line := err.Error(), 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return crmplan.Errorf(crmplan.EINVALID, "not valid YAML: %s", msg).In(d.place(line, "")).
		Try("check the indentation and quoting around that line")
}

// locate places an error from Validate, which names a field path, at the
// file and line the path was read from.
func (d *decoder) locate(err error) error {
	var e *crmplan.Error
	if !errors.As(err, &e) {
		return crmplan.Errorf(crmplan.EINVALID, "%w", err).In(d.file)
	}
	placed := *e
	placed.Code = crmplan.EINVALID
	placed.Field = d.place(d.lineOf(e.Field), e.Field)
	return &placed
}

// EncodePlan writes p as YAML that DecodePlan reads back to the same plan:
// keys in a fixed order, zero values left out, shares as percentages
// ("60%") and record counts with a suffix ("25M").
func EncodePlan(p *Plan) ([]byte, error) {
	if p == nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "no plan to encode")
	}
	root := encodeMapping(planFields(p))
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root},
		HeadComment: "crmplan plan. Size it with: crmplan size --plan FILE"}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "encode plan: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "encode plan: %w", err)
	}
	return buf.Bytes(), nil
}
