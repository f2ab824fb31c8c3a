// Package app is the domain of the bundled CRM: users and roles, the record
// kinds (accounts, contacts, leads, opportunities, activities) with their
// fields and validation, and the error type every part of the CRM returns.
// It does no I/O; app/store persists it and app/api serves it.
package app

import (
	"errors"
	"fmt"
)

// Error codes; the API puts them into {"error":{"code":...}} as they are.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ECONFLICT     = "conflict"
	ETOOLARGE     = "too_large"
	ETOOMANY      = "too_many_requests"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// Error is a failure the client can understand: a code, a message and the
// request field it concerns, if any.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error
}

// Errorf returns an *Error; a %w verb keeps the cause reachable.
func Errorf(code, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	e := &Error{Code: code, Message: wrapped.Error()}
	if errors.Unwrap(wrapped) != nil {
		e.Err = wrapped
	}
	return e
}

// In names the request field the error is about.
func (e *Error) In(field string) *Error { e.Field = field; return e }

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func (e *Error) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return errors.Unwrap(e.Err)
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error and "" for nil.
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
