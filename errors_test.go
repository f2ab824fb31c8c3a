package crmplan_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

func TestError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode string
		wantMsg  string
		wantHint string
	}{
		{"nil", nil, "", "", ""},
		{"plain error is internal", errors.New("boom"), crmplan.EINTERNAL, "boom", ""},
		{
			"field, message and hint",
			crmplan.Errorf(crmplan.EINVALID, "must be above 0, got %d", -3).In("--named-users").Try("crmplan size --named-users 3000"),
			crmplan.EINVALID, "--named-users: must be above 0, got -3", "crmplan size --named-users 3000",
		},
		{
			"wrapped by fmt keeps code and hint",
			fmt.Errorf("sizing: %w", crmplan.Errorf(crmplan.ENOTFOUND, "no plan").Try("crmplan size --write plan.yaml")),
			crmplan.ENOTFOUND, "sizing: no plan", "crmplan size --write plan.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := crmplan.ErrorCode(tt.err); got != tt.wantCode {
				t.Errorf("code = %q, want %q", got, tt.wantCode)
			}
			if tt.err != nil && tt.err.Error() != tt.wantMsg {
				t.Errorf("message = %q, want %q", tt.err.Error(), tt.wantMsg)
			}
			if got := crmplan.ErrorHint(tt.err); got != tt.wantHint {
				t.Errorf("hint = %q, want %q", got, tt.wantHint)
			}
		})
	}
}

func TestErrorfWrapsCause(t *testing.T) {
	err := crmplan.Errorf(crmplan.ENOTFOUND, "read plan: %w", fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("errors.Is(%v, fs.ErrNotExist) = false, want true", err)
	}
}

// TestErrorQuotesShort: a bad value is quoted at most crmplan.MaxQuoted
// characters, however long it is, in the message, the hint and the place;
// short values and other verbs are left as they are.
func TestErrorQuotesShort(t *testing.T) {
	type role string
	long := strings.Repeat("a", 1<<20)
	tests := []struct {
		name string
		err  *crmplan.Error
		want string // the whole error, or its start when it ends in "..."
	}{
		{"short value unchanged", crmplan.Errorf(crmplan.EINVALID, "%q is not a name", "Demo Plan"), `"Demo Plan" is not a name`},
		{"long value cut", crmplan.Errorf(crmplan.EINVALID, "%q is not a name", long),
			`"` + strings.Repeat("a", 79) + `…" (1048576 bytes) is not a name`},
		{"named string type cut", crmplan.Errorf(crmplan.EINVALID, "unknown role %q", role(long)),
			`unknown role "` + strings.Repeat("a", 79) + `…" (1048576 bytes)`},
		{"escapes count", crmplan.Errorf(crmplan.EINVALID, "%q", strings.Repeat("\x00", 100)),
			`"` + strings.Repeat(`\x00`, 19) + `…" (100 bytes)`},
		{"place cut", crmplan.Errorf(crmplan.EINVALID, "unknown field").In("p.yaml:3: " + long),
			"p.yaml:3: " + strings.Repeat("a", 502) + "… (1048586 bytes): unknown field"},
		{"other verbs untouched", crmplan.Errorf(crmplan.EINVALID, "%.3s|%5d", long, 7), "aaa|    7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got  %.300q\nwant %.300q", got, tt.want)
			}
		})
	}
	hint := crmplan.Errorf(crmplan.EINVALID, "bad").Try("rename %q to %q", long, "web").Hint
	if want := `rename "` + strings.Repeat("a", 79) + `…" (1048576 bytes) to "web"`; hint != want {
		t.Errorf("hint = %.300q, want %.300q", hint, want)
	}
}
