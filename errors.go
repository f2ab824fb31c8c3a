// Package crmplan holds what every part of crmplan shares: the error type
// that carries a code, the place it happened and a hint the user can paste.
// The planning packages (sizing, topology, provision, loadgen, reports) return
// *Error for anything a user can fix, and cmd/crmplan maps the code to an exit
// code exactly once.
package crmplan

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. They are strings so that JSON output and logs stay readable.
const (
	EINVALID     = "invalid"     // bad input: flags, plan file, values out of range
	ENOTFOUND    = "not_found"   // a plan, stack, host or result that does not exist
	ECONFLICT    = "conflict"    // a port taken, a stack locked, a state that forbids the action
	EUNAVAILABLE = "unavailable" // a dependency (binary, server, network) cannot be reached
	ESLO         = "slo_failed"  // a load test ran but missed its thresholds
	EINTERNAL    = "internal"    // a bug or an unexpected failure
)

// Error is a failure the user can understand and act on.
//
// Field names where the problem is, as precisely as known: a flag
// ("--named-users"), a plan-file path with line ("plan.yaml:12: tiers[0].role")
// or a host ("app-1"). Hint is a command or an edit the user can try next; it
// is printed after "Try: ".
type Error struct {
	Code    string
	Field   string
	Message string
	Hint    string
	Err     error
}

// Errorf returns an *Error with the given code and a formatted message.
// A %w verb in format is honoured: the wrapped error stays reachable with
// errors.Is and errors.As.
func Errorf(code, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	e := &Error{Code: code, Message: wrapped.Error()}
	if errors.Unwrap(wrapped) != nil {
		e.Err = wrapped
	}
	return e
}

// In sets the place of the error and returns e, for chaining.
func (e *Error) In(field string) *Error { e.Field = field; return e }

// Try sets the hint and returns e, for chaining.
func (e *Error) Try(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// Error renders "field: message" on one line; the hint is left to the CLI,
// which prints it on its own line.
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap lets errors.Is and errors.As see the cause.
func (e *Error) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return errors.Unwrap(e.Err)
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorHint returns the hint of the first *Error in err's chain that has one.
func ErrorHint(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Hint != "" {
			return strings.TrimPrefix(e.Hint, "Try: ")
		}
		err = e.Unwrap()
	}
	return ""
}
