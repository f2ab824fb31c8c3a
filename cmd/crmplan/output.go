package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan"
)

// Output helpers shared by every command that prints data: --output table,
// json or yaml, and human-readable sizes.

func checkOutput(format string) error {
	switch format {
	case "table", "json", "yaml":
		return nil
	}
	return crmplan.Errorf(crmplan.EINVALID, "unknown output format %q (want table, json or yaml)", format).
		In("--output").Try("add --output json")
}

// encode writes v as JSON or YAML; it reports whether it handled format.
func encode(w io.Writer, v any, format string) (bool, error) {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return true, enc.Encode(v)
	case "yaml":
		// Through JSON first so that YAML has the JSON contract's key names,
		// in the same order, with integers kept as integers.
		data, err := json.Marshal(v)
		if err != nil {
			return true, err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		node, err := yamlNode(dec)
		if err != nil {
			return true, err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(node); err != nil {
			return true, err
		}
		return true, enc.Close()
	}
	return false, nil
}

// yamlNode reads one JSON value from dec and returns it as a YAML node.
func yamlNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		kind, end := yaml.SequenceNode, json.Delim(']')
		if t == '{' {
			kind, end = yaml.MappingNode, '}'
		}
		node := &yaml.Node{Kind: kind}
		for dec.More() {
			if kind == yaml.MappingNode {
				key, err := dec.Token()
				if err != nil {
					return nil, err
				}
				node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key.(string)})
			}
			child, err := yamlNode(dec)
			if err != nil {
				return nil, err
			}
			node.Content = append(node.Content, child)
		}
		if tok, err := dec.Token(); err != nil || tok != end {
			return nil, fmt.Errorf("yaml output: unbalanced JSON")
		}
		return node, nil
	case json.Number:
		tag := "!!int"
		if _, err := t.Int64(); err != nil {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	default: // nil
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanCount(n int64) string {
	switch {
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatInt(n, 10)
}
