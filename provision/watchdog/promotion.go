package watchdog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// Promotion records a failover in the stack's directory. The Pulumi program
// reads it on every apply, so the next apply keeps the promoted replica as
// the primary (and the api servers pointed at it) instead of undoing it.
type Promotion struct {
	Promoted string    `json:"promoted"` // the replica that became the primary
	Retired  string    `json:"retired"`  // the old primary, fenced (stopped)
	At       time.Time `json:"at"`
	// Rebuild: the retired primary is back and follows the promoted one.
	Rebuild bool `json:"rebuild,omitempty"`
	// Automatic: the watchdog failed over (failover: automatic), having
	// last heard from the primary at LastSeen and given up on it at
	// Detected; At is when the promoted replica took writes.
	Automatic bool      `json:"automatic,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	Detected  time.Time `json:"detected,omitzero"`
}

// LoadPromotion reads the stack's failover record; nil when the stack has
// not failed over.
func LoadPromotion(paths stackdir.Paths) (*Promotion, error) {
	return LoadPromotionFile(paths.FailoverRecord())
}

// LoadPromotionFile reads a failover record at path: the stack's, or the
// one a watchdog keeps on its host (the ssh target); nil when there is none.
func LoadPromotionFile(path string) (*Promotion, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read failover record: %w", err)
	}
	return ParsePromotion(path, b)
}

// ParsePromotion decodes a failover record read from where (named in the
// error).
func ParsePromotion(where string, b []byte) (*Promotion, error) {
	var p Promotion
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, crmplan.Errorf(crmplan.EINTERNAL, "failover record %s is damaged: %w", where, err)
	}
	return &p, nil
}

// SavePromotion writes the stack's failover record (a rename, so that a
// reader sees the old record or the new one whole).
func SavePromotion(paths stackdir.Paths, p Promotion) error {
	return SavePromotionFile(paths.FailoverRecord(), p)
}

// SavePromotionFile writes a failover record at path, as SavePromotion.
func SavePromotionFile(path string, p Promotion) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save failover record: %w", err)
	}
	return os.Rename(tmp, path)
}
