package web_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"shipmate/internal/runbook"
)

// GET /api/runs lists what bot runs asks for: the runs a filter picks,
// newest first, and a clear refusal of a filter it cannot read.
func TestListRunsFilters(t *testing.T) {
	c := newConsole(t, "")
	s := c.openStream(t)
	for _, line := range []string{"/deploy demo v1 staging", "/deploy cancel 1", "/deploy demo v2 staging"} {
		if rep := c.command(t, "bob", line); rep.Error {
			t.Fatalf("%s: %s", line, rep.Text)
		}
	}

	list := func(query string) []uint64 {
		t.Helper()
		var runs []*runbook.Run
		c.getJSON(t, "/api/runs"+query, &runs)
		ids := []uint64{}
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		query string
		want  []uint64
	}{
		{"", []uint64{2, 1}},
		{"?app=demo&env=staging", []uint64{2, 1}},
		{"?state=cancelled", []uint64{1}},
		{"?app=demo&limit=1", []uint64{2}},
		{"?env=development", []uint64{}},
		{"?since=2099-01-01T00:00:00Z", []uint64{}},
	} {
		if got := list(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("GET /api/runs%s = runs %v, want %v", tc.query, got, tc.want)
		}
	}
	// Run 2 waits on its checklist (a state not yet finished): listing
	// that state finds it, in its app only.
	for {
		if e := s.next(t).entry(t); e.Ref == "run-2" && e.Message.State == runbook.StateChecklist {
			break
		}
	}
	waiting := string(runbook.StateChecklist)
	for query, want := range map[string][]uint64{
		"?state=" + waiting:                     {2},
		"?state=" + waiting + ",deploying":      {2},
		"?state=" + waiting + "&app=other":      {},
		"?state=" + waiting + "&env=production": {},
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("GET /api/runs%s = runs %v, want %v", query, got, want)
		}
	}
	for _, tc := range []struct{ query, text string }{
		{"?state=done", `unknown state "done"`},
		{"?since=yesterday", `since "yesterday": want an RFC 3339 time`},
		{"?limit=0", `limit "0": want a number from 1 to 1000`},
	} {
		resp, data := c.do(t, http.MethodGet, "/api/runs"+tc.query, nil, "")
		var rep reply
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(data, &rep) != nil || !strings.HasPrefix(rep.Text, tc.text) {
			t.Errorf("GET /api/runs%s = %d %s, want 400 %q", tc.query, resp.StatusCode, data, tc.text)
		}
	}
}
