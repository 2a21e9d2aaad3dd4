package runbook

import (
	"slices"
	"strings"
)

// minSecret is the shortest value treated as a secret: shorter ones would
// blot out ordinary words.
const minSecret = 8

// redactor replaces every secret Shipmate knows by *** in text it stores
// or shows: step output, notes, events and step errors.
type redactor struct{ r *strings.Replacer }

func newRedactor(secrets []string) redactor {
	var pairs []string
	// Longest first, so that a secret containing another is replaced whole.
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		if len(s) >= minSecret {
			pairs = append(pairs, s, "***")
		}
	}
	if len(pairs) == 0 {
		return redactor{}
	}
	return redactor{strings.NewReplacer(pairs...)}
}

func (x redactor) text(s string) string {
	if x.r == nil {
		return s
	}
	return x.r.Replace(s)
}

// err returns err with its text redacted, still wrapping it for errors.Is.
func (x redactor) err(err error) error {
	if err == nil || x.r == nil {
		return err
	}
	if s := x.r.Replace(err.Error()); s != err.Error() {
		return redactedError{text: s, err: err}
	}
	return err
}

type redactedError struct {
	text string
	err  error
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.err }
