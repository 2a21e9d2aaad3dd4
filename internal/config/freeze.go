package config

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"shipmate/internal/runbook"
)

// rawFreeze is one calendar freeze of an environment:
// {from: 2026-12-21, to: 2027-01-04, reason: "holidays"}.
type rawFreeze struct {
	From   string `yaml:"from"`
	To     string `yaml:"to"`
	Reason string `yaml:"reason"`
}

const freezeTimeForm = `a date such as 2026-12-21, or a date and time with an optional zone such as "2026-12-21 18:00 Europe/Berlin"`

// buildFreezes checks an environment's calendar freezes. A freeze needs a
// reason: it is what a refused deployer is told.
func buildFreezes(d *decoder, path string, raw []rawFreeze) ([]runbook.Freeze, error) {
	var out []runbook.Freeze
	for i, r := range raw {
		fpath := index(path, i)
		for _, key := range []struct{ name, value string }{{"from", r.From}, {"to", r.To}, {"reason", r.Reason}} {
			if strings.TrimSpace(key.value) == "" {
				return nil, d.errorf(join(fpath, key.name), "required")
			}
		}
		from, err := parseFreezeTime(r.From, false)
		if err != nil {
			return nil, d.errorf(join(fpath, "from"), "%v", err)
		}
		to, err := parseFreezeTime(r.To, true)
		if err != nil {
			return nil, d.errorf(join(fpath, "to"), "%v", err)
		}
		if !to.After(from) {
			return nil, d.errorf(join(fpath, "to"), "ends before it starts (from is %q)", r.From)
		}
		out = append(out, runbook.Freeze{From: from, To: to, Reason: r.Reason})
	}
	return out, nil
}

// parseFreezeTime reads "DATE [HH:MM] [ZONE]", UTC unless a zone is named.
// A date alone means the start of that day, or for the end of a freeze
// (end) the end of it: the freeze lasts until the next day begins.
func parseFreezeTime(s string, end bool) (time.Time, error) {
	bad := fmt.Errorf("want %s, got %q", freezeTimeForm, s)
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 3 {
		return time.Time{}, bad
	}
	if _, err := time.Parse(time.DateOnly, f[0]); err != nil {
		return time.Time{}, bad
	}
	loc := time.UTC
	// Zone names start with a letter (Europe/Berlin, UTC); times do not.
	if zone := f[len(f)-1]; len(f) > 1 && unicode.IsLetter(rune(zone[0])) {
		l, err := time.LoadLocation(zone)
		if err != nil || zone == "Local" {
			return time.Time{}, fmt.Errorf("unknown time zone %q in %q", zone, s)
		}
		loc, f = l, f[:len(f)-1]
	}
	layout := time.DateOnly
	if len(f) == 2 {
		layout = "2006-01-02 15:04"
	}
	t, err := time.ParseInLocation(layout, strings.Join(f, " "), loc)
	if err != nil || len(f) > 2 {
		return time.Time{}, bad
	}
	if end && len(f) == 1 {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}
