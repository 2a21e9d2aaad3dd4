// Package fielderr is the error an adapter's configuration check returns
// for one key of its block, so that the configuration can name the key's
// whole path and line without reading it out of the error's text.
package fielderr

import "fmt"

// Error says what is wrong with Key, a key of the block being checked (a
// dotted path such as "registry.password", or "workloads[1]").
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// New returns an *Error for key.
func New(key, format string, args ...any) error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}
