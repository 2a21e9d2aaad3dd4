package runbook

import (
	"errors"
	"fmt"
)

// Error codes. Chat adapters show an *Error's Message to the user; any other
// error is an internal fault, shown only as a reference to the logs.
const (
	EInvalid   = "invalid"   // the request is malformed or names unknown things
	EForbidden = "forbidden" // the user may not do this
	EConflict  = "conflict"  // the state does not allow it (locked, already approved, ...)
	ENotFound  = "not_found" // no such run
	EPolicy    = "policy"    // a rule of the environment refuses it (window, staging first, checklist)
	EInternal  = "internal"

	EUnavailable = "unavailable" // a service Shipmate needs (its store) does not answer
)

// Error is an error meant for the person who caused it.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, or EInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EInternal
}

// ErrorMessage returns the user-facing text of err: an *Error's message, or
// a generic line for internal faults (whose details belong in the logs).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error: Shipmate could not complete that; the details are in its log"
}
