package runbook

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RunFilter picks runs for a listing (bot runs, the console's API). Zero
// fields pick everything.
type RunFilter struct {
	App    string
	Env    string
	States []State
	// Since picks runs requested at or after it.
	Since time.Time
	// Limit caps how many runs are returned (newest first); 0 is no cap.
	Limit int
}

// Match reports whether r is one of the runs f picks.
func (f RunFilter) Match(r *Run) bool {
	return (f.App == "" || r.App == f.App) &&
		(f.Env == "" || r.Env == f.Env) &&
		(len(f.States) == 0 || slices.Contains(f.States, r.State)) &&
		(f.Since.IsZero() || !r.CreatedAt.Before(f.Since))
}

// ParseStates reads a comma-separated list of state names ("failed,
// rolled_back"), refusing any the workflow does not have.
func ParseStates(s string) ([]State, error) {
	var out []State
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		st := State(name)
		if !slices.Contains(AllStates, st) {
			names := make([]string, len(AllStates))
			for i, s := range AllStates {
				names[i] = string(s)
			}
			return nil, fmt.Errorf("unknown state %q (states: %s)", name, strings.Join(names, ", "))
		}
		out = append(out, st)
	}
	return out, nil
}

// RunPage asks a store for one page of a listing: up to Limit runs (0: no
// cap), newest first, with ids below Before (0: from the newest). With App
// and Env it reads that app's runs in that environment, with App alone
// that app's runs, and otherwise all runs (Env without App restricts
// nothing: the stores keep no index by environment alone).
type RunPage struct {
	App, Env string
	// Before is the id of the last run of the previous page, so that the
	// next page goes on just past it.
	Before uint64
	Limit  int
}

// RunLister is what a listing reads: pages of runs, through the stores'
// indexes by app and by app and environment, and the runs not yet
// finished.
type RunLister interface {
	RunsPage(ctx context.Context, q RunPage) ([]*Run, error)
	ActiveRuns(ctx context.Context) ([]*Run, error)
}

// listPage is how many runs the first read of a listing asks for; each
// further read asks for twice as many, up to maxListPage.
const (
	listPage    = 64
	maxListPage = 4096
)

// ListRuns returns the runs f picks, newest first. It reads pages of the
// app's (or app and environment's) index, each page going on where the
// last ended, and stops as soon as it has Limit runs or has gone past
// Since, so a listing of the last week reads the last week. A listing of
// unfinished states only reads the runs not yet finished.
func ListRuns(ctx context.Context, st RunLister, f RunFilter) ([]*Run, error) {
	if unfinishedOnly(f.States) {
		return listActive(ctx, st, f)
	}
	q := RunPage{App: f.App}
	if f.App != "" {
		q.Env = f.Env
	}
	// Without a state to check, every run the index gives is picked (but
	// for Since, which ends the walk): no page need be longer than what
	// is still missing.
	exact := len(f.States) == 0 && (f.Env == "" || f.App != "")
	var out []*Run
	for size := listPage; ; size = min(2*size, maxListPage) {
		q.Limit = size
		if left := f.Limit - len(out); f.Limit > 0 && exact && left < size {
			q.Limit = left
		}
		runs, err := st.RunsPage(ctx, q)
		if err != nil {
			return nil, err
		}
		if q.Before != 0 && len(runs) > 0 && runs[0].ID >= q.Before {
			// A page must go on below the last: one that does not would
			// list runs twice, or the same runs forever.
			return nil, fmt.Errorf("store: a page of runs below %d gave run %d", q.Before, runs[0].ID)
		}
		for _, r := range runs {
			if !f.Since.IsZero() && r.CreatedAt.Before(f.Since) {
				// Ids grow with time: what follows is older still. A clock
				// stepped back may have left a few out of order; they are
				// not worth reading the whole store for.
				return out, nil
			}
			if f.Match(r) {
				out = append(out, r)
			}
			if f.Limit > 0 && len(out) == f.Limit {
				return out, nil
			}
		}
		if len(runs) < q.Limit {
			return out, nil
		}
		q.Before = runs[len(runs)-1].ID
	}
}

// unfinishedOnly reports whether states name only states of runs not yet
// finished, which the stores keep apart (ActiveRuns).
func unfinishedOnly(states []State) bool {
	for _, s := range states {
		if s.Terminal() {
			return false
		}
	}
	return len(states) > 0
}

// listActive lists the unfinished runs f picks, newest first.
func listActive(ctx context.Context, st RunLister, f RunFilter) ([]*Run, error) {
	runs, err := st.ActiveRuns(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Run
	for _, r := range runs {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Run) int { return cmp.Compare(b.ID, a.ID) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}
