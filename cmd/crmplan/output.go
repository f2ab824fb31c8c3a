package main

import (
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
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		defer enc.Close()
		// Through JSON first so that YAML keys are the JSON contract's names.
		data, err := json.Marshal(v)
		if err != nil {
			return true, err
		}
		var generic any
		if err := json.Unmarshal(data, &generic); err != nil {
			return true, err
		}
		return true, enc.Encode(generic)
	}
	return false, nil
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
