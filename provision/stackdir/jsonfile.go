package stackdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
)

// saveJSON writes v to path atomically with mode 0600 (what the stack
// leaves may hold passwords), making its directory; what names it in
// errors.
func saveJSON(path, what string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	if err := renameio.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

// loadJSON reads path into v. A missing file is the notFound error; a
// damaged one is EINTERNAL with notFound's hint, which writes it anew.
func loadJSON(path, what string, v any, notFound *crmplan.Error) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return crmplan.Errorf(crmplan.EINTERNAL, "%s %s is damaged: %w", what, path, err).Try("%s", notFound.Hint)
	}
	return nil
}
