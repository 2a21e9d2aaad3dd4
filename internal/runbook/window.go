package runbook

import (
	"fmt"
	"strings"
	"time"
)

// Window is a recurring weekly period when deployments may start, such as
// "Mon-Thu 09:00-16:00 UTC". A window whose end is before its start runs
// past midnight into the next day.
type Window struct {
	spec  string
	days  [7]bool // indexed by time.Weekday
	start time.Duration
	end   time.Duration
	loc   *time.Location
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow parses "DAYS HH:MM-HH:MM [ZONE]". DAYS is a day (Mon), a range
// (Mon-Thu, Fri-Mon), a comma list of those, or "daily". ZONE is UTC (the
// default) or an IANA zone name such as Europe/Berlin.
func ParseWindow(spec string) (Window, error) {
	w := Window{spec: spec, loc: time.UTC}
	f := strings.Fields(spec)
	if len(f) < 2 || len(f) > 3 {
		return w, fmt.Errorf("window %q: want \"DAYS HH:MM-HH:MM [ZONE]\", e.g. \"Mon-Thu 09:00-16:00 UTC\"", spec)
	}
	if err := w.parseDays(f[0]); err != nil {
		return w, fmt.Errorf("window %q: %v", spec, err)
	}
	from, to, ok := strings.Cut(f[1], "-")
	if !ok {
		return w, fmt.Errorf("window %q: time range %q: want HH:MM-HH:MM", spec, f[1])
	}
	var err error
	if w.start, err = clockTime(from); err != nil {
		return w, fmt.Errorf("window %q: %v", spec, err)
	}
	if w.end, err = clockTime(to); err != nil {
		return w, fmt.Errorf("window %q: %v", spec, err)
	}
	if w.start == w.end {
		return w, fmt.Errorf("window %q: starts and ends at the same time", spec)
	}
	if len(f) == 3 {
		loc, err := time.LoadLocation(f[2])
		if err != nil {
			return w, fmt.Errorf("window %q: unknown time zone %q", spec, f[2])
		}
		w.loc = loc
	}
	return w, nil
}

func (w *Window) parseDays(s string) error {
	if strings.EqualFold(s, "daily") || s == "*" {
		for i := range w.days {
			w.days[i] = true
		}
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, ok := weekdays[strings.ToLower(a)]
		if !ok {
			return fmt.Errorf("unknown day %q (use Mon, Tue, ... Sun)", a)
		}
		to := from
		if isRange {
			if to, ok = weekdays[strings.ToLower(b)]; !ok {
				return fmt.Errorf("unknown day %q (use Mon, Tue, ... Sun)", b)
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			w.days[d] = true
			if d == to {
				break
			}
		}
	}
	return nil
}

func clockTime(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * time.Hour, nil
		}
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// String returns the window as written.
func (w Window) String() string { return w.spec }

func (w Window) length() time.Duration {
	if w.end > w.start {
		return w.end - w.start
	}
	return 24*time.Hour - w.start + w.end
}

// opening returns the start of the window on the day of t (in w's zone).
func (w Window) opening(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, w.loc).Add(w.start)
}

// Contains reports whether t falls inside the window.
func (w Window) Contains(t time.Time) bool {
	t = t.In(w.loc)
	for back := 0; back <= 1; back++ {
		day := t.AddDate(0, 0, -back)
		if !w.days[day.Weekday()] {
			continue
		}
		open := w.opening(day)
		if !t.Before(open) && t.Before(open.Add(w.length())) {
			return true
		}
	}
	return false
}

// Next returns the next time at or after t when the window opens.
func (w Window) Next(t time.Time) time.Time {
	t = t.In(w.loc)
	for ahead := 0; ahead <= 7; ahead++ {
		day := t.AddDate(0, 0, ahead)
		if !w.days[day.Weekday()] {
			continue
		}
		if open := w.opening(day); !open.Before(t) {
			return open
		}
	}
	return time.Time{}
}

// InWindows reports whether t is inside any of ws (true when ws is empty),
// and otherwise when the earliest of them next opens.
func InWindows(ws []Window, t time.Time) (bool, time.Time) {
	if len(ws) == 0 {
		return true, time.Time{}
	}
	var next time.Time
	for _, w := range ws {
		if w.Contains(t) {
			return true, time.Time{}
		}
		if n := w.Next(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return false, next
}
