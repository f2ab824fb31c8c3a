package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crmplan/crmplan"
)

// WriteJSON writes r as indented JSON: every number the other two files show.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// Files are the paths WriteFiles wrote.
type Files struct {
	HTML     string `json:"html"`
	Markdown string `json:"markdown"`
	JSON     string `json:"json"`
}

// WriteFiles writes report.html, report.md and report.json into dir,
// creating it. Each file is written whole to a temporary name and renamed, so
// a reader never sees half a report.
func WriteFiles(dir string, r Report) (Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, crmplan.Errorf(crmplan.EINVALID, "cannot create the report directory: %w", err).
			In("--out").Try("crmplan report --plan PLAN.yaml --out ./reports")
	}
	f := Files{HTML: filepath.Join(dir, "report.html"), Markdown: filepath.Join(dir, "report.md"), JSON: filepath.Join(dir, "report.json")}
	for _, out := range []struct {
		path   string
		render func(io.Writer, Report) error
	}{{f.HTML, WriteHTML}, {f.Markdown, WriteMarkdown}, {f.JSON, WriteJSON}} {
		var buf bytes.Buffer
		if err := out.render(&buf, r); err != nil {
			return Files{}, err
		}
		if err := writeAtomic(out.path, buf.Bytes()); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
