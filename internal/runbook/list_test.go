package runbook_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// pagedRuns is a store of runs, ids 1…n, that serves a listing's pages and
// its unfinished runs (oldest first, as the stores keep them).
type pagedRuns struct {
	runs  []*runbook.Run // oldest first
	pages []runbook.RunPage
	// stuck makes every page start at the newest run, whatever Before
	// says.
	stuck bool
}

func (p *pagedRuns) RunsPage(_ context.Context, q runbook.RunPage) ([]*runbook.Run, error) {
	p.pages = append(p.pages, q)
	var out []*runbook.Run
	for i := len(p.runs) - 1; i >= 0 && (q.Limit <= 0 || len(out) < q.Limit); i-- {
		r := p.runs[i]
		if (q.Before == 0 || p.stuck || r.ID < q.Before) && (q.App == "" || r.App == q.App) && (q.Env == "" || r.Env == q.Env) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (p *pagedRuns) ActiveRuns(context.Context) ([]*runbook.Run, error) {
	var out []*runbook.Run
	for _, r := range p.runs {
		if !r.State.Terminal() {
			out = append(out, r)
		}
	}
	return out, nil
}

func runIDs(runs []*runbook.Run) []uint64 {
	out := []uint64{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

// TestListRunsOfUnfinishedStates lists runs waiting for approval: the
// newest first, within Since, app and Limit, without reading any page of
// history.
func TestListRunsOfUnfinishedStates(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	st := &pagedRuns{}
	for i := range 300 {
		r := &runbook.Run{ID: uint64(i + 1), App: []string{"web", "api"}[i%2], Env: "prod",
			State: runbook.StateSucceeded, CreatedAt: t0.Add(time.Duration(i) * time.Hour)}
		if i%50 == 0 {
			r.State = runbook.StateAwaitingApproval // runs 1, 51, 101 … 251, all of web
		}
		st.runs = append(st.runs, r)
	}
	waiting := []runbook.State{runbook.StateAwaitingApproval}
	for _, c := range []struct {
		f    runbook.RunFilter
		want []uint64
	}{
		{runbook.RunFilter{States: waiting}, []uint64{251, 201, 151, 101, 51, 1}},
		{runbook.RunFilter{States: waiting, Limit: 2}, []uint64{251, 201}},
		{runbook.RunFilter{States: waiting, Since: t0.Add(120 * time.Hour)}, []uint64{251, 201, 151}},
		{runbook.RunFilter{States: waiting, App: "api"}, []uint64{}},
	} {
		got, err := runbook.ListRuns(context.Background(), st, c.f)
		if err != nil || !slices.Equal(runIDs(got), c.want) {
			t.Errorf("ListRuns(%+v) = %v, %v; want %v", c.f, runIDs(got), err, c.want)
		}
	}
	if st.pages != nil {
		t.Errorf("listing unfinished runs read pages %+v, want none", st.pages)
	}

	// A finished state among them takes the history.
	got, err := runbook.ListRuns(context.Background(), st, runbook.RunFilter{
		States: append(waiting, runbook.StateSucceeded), Limit: 3})
	if err != nil || !slices.Equal(runIDs(got), []uint64{300, 299, 298}) {
		t.Errorf("awaiting approval or succeeded, 3 = %v, %v; want [300 299 298]", runIDs(got), err)
	}
}

// TestListRunsRefusesAPageThatDoesNotGoOn: a store whose pages do not go
// below the previous one gets an error, not a listing that never ends.
func TestListRunsRefusesAPageThatDoesNotGoOn(t *testing.T) {
	st := &pagedRuns{stuck: true}
	for i := range 100 {
		st.runs = append(st.runs, &runbook.Run{ID: uint64(i + 1), App: "web", State: runbook.StateSucceeded})
	}
	_, err := runbook.ListRuns(context.Background(), st, runbook.RunFilter{App: "web", States: []runbook.State{runbook.StateFailed}})
	if err == nil || !strings.Contains(err.Error(), "below") {
		t.Errorf("ListRuns over a stuck store: error %v, want one about a page not going on", err)
	}
}
