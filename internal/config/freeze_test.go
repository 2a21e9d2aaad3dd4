package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

// A freeze is given by dates or dates with times, UTC unless a zone is
// named; a date alone starts at the beginning of its day and, as the end of
// a freeze, lasts to the end of its day.
func TestFreezes(t *testing.T) {
	text := strings.Replace(valid, freezeAt19, freezeAt19+`    freezes:
      - {from: 2026-12-21, to: 2027-01-04, reason: "holidays"}
      - from: "2026-12-31 18:00 Europe/Berlin"
        to: "2027-01-01 06:00 Europe/Berlin"
        reason: "new year's eve"
      - {from: "2027-03-27 Europe/Berlin", to: "2027-03-28 Europe/Berlin", reason: "clocks change"}
      - {from: "2027-05-01 09:30", to: 2027-05-01, reason: "May Day"}
`, 1)
	c, err := Parse([]byte(text), noVars)
	if err != nil {
		t.Fatal(err)
	}
	utc := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, time.UTC) }
	want := []runbook.Freeze{
		{From: utc(2026, 12, 21, 0, 0), To: utc(2027, 1, 5, 0, 0), Reason: "holidays"},
		{From: utc(2026, 12, 31, 17, 0), To: utc(2027, 1, 1, 5, 0), Reason: "new year's eve"},
		// Berlin moves to summer time on the 28th: the two days last 47 hours.
		{From: utc(2027, 3, 26, 23, 0), To: utc(2027, 3, 28, 22, 0), Reason: "clocks change"},
		{From: utc(2027, 5, 1, 9, 30), To: utc(2027, 5, 2, 0, 0), Reason: "May Day"},
	}
	prod, _ := c.Policy.Env("production")
	if diff := cmp.Diff(want, prod.Freezes); diff != "" {
		t.Errorf("freezes (-want +got):\n%s", diff)
	}
	if staging, _ := c.Policy.Env("staging"); len(staging.Freezes) != 0 {
		t.Errorf("staging has freezes: %+v", staging.Freezes)
	}
}
