package runbook

import (
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

// RecentFunc reads the newest runs of every app and environment, newest
// first (a store's Recent).
type RecentFunc func(ctx context.Context, limit int) ([]*Run, error)

// listPage is how many runs the first read of a listing asks for; each
// further read asks for twice as many.
const listPage = 64

// ListRuns returns the runs f picks, newest first. It reads the newest runs
// in widening pages and stops as soon as it has Limit runs or has gone past
// Since, so a listing of the last week reads the last week.
func ListRuns(ctx context.Context, recent RecentFunc, f RunFilter) ([]*Run, error) {
	for n := listPage; ; n *= 2 {
		runs, err := recent(ctx, n)
		if err != nil {
			return nil, err
		}
		var out []*Run
		past := false
		for _, r := range runs {
			if !f.Since.IsZero() && r.CreatedAt.Before(f.Since) {
				// Ids grow with time: what follows is older still. A clock
				// stepped back may have left a few out of order; they are
				// not worth reading the whole store for.
				past = true
				break
			}
			if f.Match(r) {
				out = append(out, r)
			}
			if f.Limit > 0 && len(out) == f.Limit {
				return out, nil
			}
		}
		if past || len(runs) < n {
			return out, nil
		}
	}
}
