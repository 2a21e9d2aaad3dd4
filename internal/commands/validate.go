package commands

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what users may type.
const (
	maxVersionLen = 128
	maxAppLen     = 63
	maxReasonLen  = 500 // in characters (runes), after spaces are collapsed
)

// ValidateVersion reports whether v may be deployed. Versions end up in
// commands, paths and URLs, so only characters that mean nothing to a shell
// are allowed, a version may not start like an option, and ".." is refused so
// that a version cannot climb out of a path.
func ValidateVersion(v string) error {
	if v == "" || len(v) > maxVersionLen || strings.ContainsFunc(v, func(r rune) bool { return !isVersionRune(r) }) {
		return fmt.Errorf("invalid version %s: use letters, digits and . _ - + : / @ (at most %d)", quote(v), maxVersionLen)
	}
	if !isASCIILetter(rune(v[0])) && !isDigit(rune(v[0])) {
		return fmt.Errorf("invalid version %s: it must start with a letter or digit", quote(v))
	}
	if strings.Contains(v, "..") {
		return fmt.Errorf(`invalid version %s: it may not contain ".."`, quote(v))
	}
	return nil
}

// ValidateApp reports whether name is a well-formed app name: lowercase
// letters, digits, - and _, starting with a letter, at most maxAppLen long,
// and not a verb or AllApps, which would make commands ambiguous.
func ValidateApp(name string) error {
	ok := name != "" && len(name) <= maxAppLen && isLowerLetter(rune(name[0]))
	for _, r := range name {
		ok = ok && (isLowerLetter(r) || isDigit(r) || r == '-' || r == '_')
	}
	switch {
	case !ok:
		return fmt.Errorf("invalid app name %s: use lowercase letters, digits, - and _, starting with a letter (at most %d)", quote(name), maxAppLen)
	case name == AllApps:
		return fmt.Errorf("%s means every app and works only with lock and unlock", quote(name))
	case isReserved(name):
		return fmt.Errorf("%s is a command word, not an app name", quote(name))
	}
	return nil
}

// resolveApp checks an app name as typed and returns it in canonical
// (lowercase) form. allowAll admits AllApps, for lock and unlock.
func (p *Parser) resolveApp(typed string, allowAll bool) (string, error) {
	name := asciiLower(typed)
	if allowAll && name == AllApps {
		return name, nil
	}
	if err := ValidateApp(name); err != nil {
		return "", err
	}
	if len(p.Apps) == 0 {
		return name, nil
	}
	// App names are lowercase (the configuration insists), so an exact
	// look-up settles the common case; suggestions are only for misses.
	if slices.Contains(p.Apps, name) {
		return name, nil
	}
	cands := make([]candidate, 0, len(p.Apps))
	for _, a := range p.Apps {
		if asciiLower(a) == name {
			return a, nil
		}
		cands = append(cands, candidate{a, a})
	}
	if near := closest(name, cands); near != "" {
		return "", fmt.Errorf("unknown app %s: did you mean %s?", quote(typed), near)
	}
	const show = 10
	list := strings.Join(p.Apps[:min(show, len(p.Apps))], ", ")
	if len(p.Apps) > show {
		list += fmt.Sprintf(" and %d more", len(p.Apps)-show)
	}
	return "", fmt.Errorf("unknown app %s (apps: %s)", quote(typed), list)
}

// resolveEnv returns the canonical name of the environment typed, matching
// names and aliases without regard to case.
func (p *Parser) resolveEnv(typed string) (string, error) {
	want := asciiLower(typed)
	var cands []candidate
	var names []string
	for _, e := range p.Envs {
		if e.Name == "" {
			continue
		}
		names = append(names, e.Name)
		for _, w := range append([]string{e.Name}, e.Aliases...) {
			if w == "" {
				continue
			}
			if asciiLower(w) == want {
				return e.Name, nil
			}
			cands = append(cands, candidate{w, e.Name})
		}
	}
	if near := closest(typed, cands); near != "" {
		return "", fmt.Errorf("unknown environment %s: did you mean %s?", quote(typed), near)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("unknown environment %s (no environments are configured)", quote(typed))
	}
	return "", fmt.Errorf("unknown environment %s (environments: %s)", quote(typed), strings.Join(names, ", "))
}

// parseRunID reads a run id: a positive decimal number, optionally "#42".
func parseRunID(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid run id %s: use a positive number such as 42 or #42", quote(s))
	}
	return n, nil
}

// cleanReason collapses runs of white space (a quoted reason may span lines)
// and enforces maxReasonLen. The empty reason is allowed here.
func cleanReason(s string) (string, error) {
	r := strings.Join(strings.Fields(s), " ")
	if n := utf8.RuneCountInString(r); n > maxReasonLen {
		return "", fmt.Errorf("reason is too long: %d characters, at most %d", n, maxReasonLen)
	}
	return r, nil
}

// CleanReason applies the rules of a typed reason to one that came some
// other way (a button's dialog): UTF-8 without control characters, white
// space collapsed, at most 500 characters.
func CleanReason(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", err
	}
	return cleanReason(s)
}

// checkText refuses text that is not UTF-8 or holds control characters.
// Tabs and line breaks are white space. Bidirectional controls are refused
// too: they make a command read differently from what it does.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("the command is not valid UTF-8")
	}
	for _, r := range s {
		if r == '\t' || r == '\n' || r == '\r' {
			continue
		}
		if unicode.IsControl(r) || isBidiControl(r) {
			return fmt.Errorf("control characters are not allowed (found %U)", r)
		}
	}
	return nil
}

func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// candidate is a word a user may have meant, and the name to suggest for it
// (an alias suggests its environment's name).
type candidate struct {
	word, suggest string
}

// closest returns the suggestion for the candidate nearest to typed, or ""
// when none is reasonably close: at most two edits away, or begun by typed.
func closest(typed string, cands []candidate) string {
	w := asciiLower(typed)
	if w == "" || len(w) > 64 {
		return ""
	}
	best, bestDist := "", -1
	for _, c := range cands {
		cw := asciiLower(c.word)
		d := distance(w, cw)
		if d > 2 && !strings.HasPrefix(cw, w) {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c.suggest, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b: the
// number of insertions, deletions, substitutions and swaps of neighbours
// that turn one into the other ("prdo" is one swap from "prod").
func distance(a, b string) int {
	s, t := []rune(a), []rune(b)
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}

// quote quotes user input for an error message, shortened so that a long
// paste does not flood the channel.
func quote(s string) string {
	return strconv.Quote(clip(s))
}

// clip collapses white space and cuts s to 40 characters.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}

// asciiLower lowers ASCII letters only. Unicode case folding would let
// look-alikes such as the Kelvin sign pass for a "k".
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// isWord reports whether s is the keyword kw, in any case.
func isWord(s, kw string) bool { return asciiLower(s) == kw }

func isVersionRune(r rune) bool {
	return isASCIILetter(r) || isDigit(r) || strings.ContainsRune("._-+:/@", r)
}

func isASCIILetter(r rune) bool { return isLowerLetter(r) || ('A' <= r && r <= 'Z') }
func isLowerLetter(r rune) bool { return 'a' <= r && r <= 'z' }
func isDigit(r rune) bool       { return '0' <= r && r <= '9' }
