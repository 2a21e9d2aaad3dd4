package runbook

import (
	"fmt"
	"regexp"
	"strings"
)

// queryPlaceholders are what an analysis query may name of the run it
// measures.
var queryPlaceholders = []string{"{app}", "{env}", "{version}"}

// CheckQuery reports whether the PromQL query q uses its placeholders
// ({app}, {env}, {version}) only inside quoted strings, such as a label
// value app="{app}": there each value is escaped, while outside a string
// a value would be read as PromQL.
func CheckQuery(q string) error {
	_, err := expandQuery(q, map[string]string{"{app}": "", "{env}": "", "{version}": ""})
	return err
}

// ExpandQuery is q as the analysis evaluates it for app in env running
// version: each placeholder replaced by its value, escaped (see
// expandQuery).
func ExpandQuery(q, app, env, version string) (string, error) {
	return expandQuery(q, queryVars(app, env, version))
}

// expandQuery replaces the placeholders of q by vars' values, escaped for
// the string they sit in: quotes and backslashes for "…" and '…', and
// regular expression characters as well when the string is the value of a
// =~ or !~ matcher, so that a version such as 1.2+build matches itself
// only. A placeholder outside a string, or a value that a raw `…` string
// cannot hold, is an error.
func expandQuery(q string, vars map[string]string) (string, error) {
	var b strings.Builder
	quote := byte(0) // the quote of the string being read, 0 outside one
	regex := false   // the string is a regular expression
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote == 0 && c == '#':
			// A comment runs to the end of the line.
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end - 1
			continue
		case quote == 0 && (c == '"' || c == '\'' || c == '`'):
			quote, regex = c, regexContext(q[:i])
		case quote == 0 && c == '{':
			if p := placeholderAt(q[i:]); p != "" {
				return "", fmt.Errorf("%s is outside a quoted string: put it in a label value, such as app=\"{app}\"", p)
			}
		case quote != 0 && c == '\\' && quote != '`' && i+1 < len(q):
			b.WriteByte(c)
			i++
			c = q[i]
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0 && c == '{':
			if p := placeholderAt(q[i:]); p != "" {
				v, err := escapeValue(vars[p], quote, regex)
				if err != nil {
					return "", fmt.Errorf("%s: %w", p, err)
				}
				b.WriteString(v)
				i += len(p) - 1
				continue
			}
		}
		b.WriteByte(c)
	}
	if quote != 0 {
		return "", fmt.Errorf("a string opened with %c is not closed", quote)
	}
	return b.String(), nil
}

// placeholderAt returns the placeholder s starts with, or "".
func placeholderAt(s string) string {
	for _, p := range queryPlaceholders {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	return ""
}

// regexContext reports whether a string starting after before is the value
// of a regular expression matcher (=~ or !~).
func regexContext(before string) bool {
	before = strings.TrimRight(before, " \t\r\n")
	return strings.HasSuffix(before, "=~") || strings.HasSuffix(before, "!~")
}

// escapeValue makes v a literal part of a string opened with quote.
func escapeValue(v string, quote byte, regex bool) (string, error) {
	if regex {
		v = regexp.QuoteMeta(v)
	}
	if quote == '`' {
		if strings.ContainsRune(v, '`') {
			return "", fmt.Errorf("a `…` string cannot hold the value %q; use \"…\"", v)
		}
		return v, nil
	}
	var b strings.Builder
	for _, r := range v {
		switch {
		case r == '\\' || r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
