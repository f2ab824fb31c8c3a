package crmplan_test

import (
	"errors"
	"fmt"
	"io/fs"
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
