// Package crmplan holds what every part of crmplan shares: the error type
// that carries a code, the place it happened and a hint the user can paste.
// The planning packages (sizing, topology, provision, loadgen, reports) return
// *Error for anything a user can fix, and cmd/crmplan maps the code to an exit
// code exactly once.
package crmplan

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
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
// errors.Is and errors.As. A string quoted with %q is cut to MaxQuoted
// characters (see Quote): messages quote the bad value, and a bad value
// can be a megabyte long.
func Errorf(code, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, shortQuotes(args)...)
	e := &Error{Code: code, Message: wrapped.Error()}
	if errors.Unwrap(wrapped) != nil {
		e.Err = wrapped
	}
	return e
}

// In sets the place of the error and returns e, for chaining. A place
// longer than maxPlace bytes is cut: it can end in a key the user wrote.
func (e *Error) In(field string) *Error { e.Field = cut(field, maxPlace); return e }

// Try sets the hint and returns e, for chaining; %q cuts strings as in
// Errorf.
func (e *Error) Try(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, shortQuotes(args)...)
	return e
}

// MaxQuoted is how many characters of a value an error quotes.
const MaxQuoted = 80

// maxPlace bounds a place: room for a long file path and a field path, not
// for a megabyte-long key at its end.
const maxPlace = 512

// Quote is strconv.Quote for a value in an error message, at most
// MaxQuoted characters between the quotes; a longer value is cut and its
// length given: "aaa…" (1048576 bytes).
func Quote(s string) string {
	q := strconv.Quote(s)
	if len(q) <= MaxQuoted+2 {
		return q
	}
	n, i := 0, 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		w := len(strconv.QuoteRune(r)) - 2 // as the quoted string writes it, near enough
		if r == utf8.RuneError && size == 1 {
			w = 4 // \xff
		}
		if n+w > MaxQuoted-1 {
			break
		}
		n, i = n+w, i+size
	}
	return fmt.Sprintf("%s (%d bytes)", strconv.Quote(s[:i]+"…"), len(s))
}

// quoted formats a long string argument: %q goes through Quote, every
// other verb as for the plain string.
type quoted string

func (q quoted) Format(f fmt.State, verb rune) {
	if verb == 'q' && !f.Flag('#') && !f.Flag('+') {
		io.WriteString(f, Quote(string(q)))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), string(q))
}

// shortQuotes wraps the long string arguments of a format (string or a
// type whose kind is string, without its own formatting) in quoted. Short
// ones are left alone, so short messages are unchanged to the byte.
func shortQuotes(args []any) []any {
	var out []any
	for i, a := range args {
		switch a.(type) {
		case fmt.Formatter, fmt.Stringer, error:
			continue
		}
		v := reflect.ValueOf(a)
		if !v.IsValid() || v.Kind() != reflect.String || v.Len() <= MaxQuoted {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = quoted(v.String())
	}
	if out == nil {
		return args
	}
	return out
}

// cut shortens s to at most n bytes at a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
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
