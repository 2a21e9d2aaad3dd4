package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store/storetest"
)

// countingLister is a store that notes what a listing asks of it: the pages
// it requests, how many runs they returned, and whether it read the
// unfinished runs.
type countingLister struct {
	s      *Store
	pages  []runbook.RunPage
	read   int
	active bool
}

func (c *countingLister) RunsPage(ctx context.Context, q runbook.RunPage) ([]*runbook.Run, error) {
	c.pages = append(c.pages, q)
	runs, err := c.s.RunsPage(ctx, q)
	c.read += len(runs)
	return runs, err
}

func (c *countingLister) ActiveRuns(ctx context.Context) ([]*runbook.Run, error) {
	c.active = true
	runs, err := c.s.ActiveRuns(ctx)
	c.read += len(runs)
	return runs, err
}

// reset forgets what was asked so far.
func (c *countingLister) reset() { c.pages, c.read, c.active = nil, 0, false }

// TestListRunsReadsOnlyWhatItLists fills a store with 200 runs, one an
// hour, alternating checkout and billing, every third one failed, and
// lists them the way bot runs does.
func TestListRunsReadsOnlyWhatItLists(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for i := range 200 {
		app := "checkout"
		if i%2 == 1 {
			app = "billing"
		}
		r := newRun(app, "staging", "v1")
		r.CreatedAt = storetest.T0.Add(time.Duration(i) * time.Hour)
		r.UpdatedAt = r.CreatedAt
		mustCreate(t, s, r, ev(runbook.EvRequested, "", runbook.StateRequested))
		end := runbook.StateCancelled
		if i%3 == 0 {
			end = runbook.StateFailed
		}
		finish(t, s, r, end)
	}
	st := &countingLister{s: s}

	// The last 50 hours hold runs 151..200 (ids start at 1); checkout's
	// are the odd ids, the runs of even index.
	got, err := runbook.ListRuns(ctx, st, runbook.RunFilter{App: "checkout", Since: storetest.T0.Add(150 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for id := uint64(199); id >= 151; id -= 2 {
		want = append(want, id)
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("checkout since hour 150: got runs %v, want %v", ids(got), want)
	}
	if want := []runbook.RunPage{{App: "checkout", Limit: 64}}; !slices.Equal(st.pages, want) {
		t.Errorf("a listing of checkout's last 50 hours read pages %+v, want %+v", st.pages, want)
	}

	// Failed runs are those of index 0, 3, 6 … (ids 1, 4, 7 …): the
	// newest three are 199, 196 and 193.
	st.reset()
	got, err = runbook.ListRuns(ctx, st, runbook.RunFilter{States: []runbook.State{runbook.StateFailed}, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []uint64{199, 196, 193}) {
		t.Errorf("the 3 newest failed runs: got %v, want [199 196 193]", ids(got))
	}

	// Everything failed in billing: ids 4, 10, 16 … 196 (index 3 mod 6),
	// which takes reading billing's 100 runs, and only those, in two
	// pages, the second going on below the first's last run.
	st.reset()
	got, err = runbook.ListRuns(ctx, st, runbook.RunFilter{App: "billing", States: []runbook.State{runbook.StateFailed}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 33 || got[0].ID != 196 || got[len(got)-1].ID != 4 {
		t.Errorf("billing's failed runs: got %d (%v), want 33 from 196 down to 4", len(got), ids(got))
	}
	// Billing's 64th newest run is id 200-2*63 = 74.
	wantPages := []runbook.RunPage{{App: "billing", Limit: 64}, {App: "billing", Before: 74, Limit: 128}}
	if !slices.Equal(st.pages, wantPages) || st.read != 100 {
		t.Errorf("billing's failed runs read pages %+v (%d runs), want %+v (100 runs)", st.pages, st.read, wantPages)
	}
}

// TestListRunsOfOneAppSkipsTheOthers lists a rare app, an unknown one and
// the unfinished runs of a history that other apps fill: the listing reads
// the runs it returns and no others.
func TestListRunsOfOneAppSkipsTheOthers(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var rare, deploying []uint64 // newest first
	for i := range 600 {
		app, env := fmt.Sprintf("busy-%d", i%7), "prod"
		if i%60 == 0 {
			app, env = "rare", []string{"dev", "prod"}[i/60%2]
		}
		if i%100 == 99 {
			env = "canary" // a run left deploying holds its app's lock here
		}
		r := newRun(app, env, "v1")
		mustCreate(t, s, r, ev(runbook.EvRequested, "", runbook.StateRequested))
		if env == "canary" {
			r.State = runbook.StateDeploying
			mustSave(t, s, r)
			deploying = append([]uint64{r.ID}, deploying...)
			continue
		}
		finish(t, s, r, runbook.StateSucceeded)
		if app == "rare" {
			rare = append([]uint64{r.ID}, rare...)
		}
	}
	st := &countingLister{s: s}
	cases := []struct {
		name string
		f    runbook.RunFilter
		want []uint64
	}{
		{"rare", runbook.RunFilter{App: "rare", Limit: 50}, rare},
		{"rare, 3", runbook.RunFilter{App: "rare", Limit: 3}, rare[:3]},
		{"rare in prod", runbook.RunFilter{App: "rare", Env: "prod"}, everyOther(rare)},
		{"unknown app", runbook.RunFilter{App: "nobody", Limit: 50}, nil},
		{"deploying", runbook.RunFilter{States: []runbook.State{runbook.StateDeploying}, Limit: 4}, deploying[:4]},
	}
	for _, c := range cases {
		st.reset()
		got, err := runbook.ListRuns(ctx, st, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(ids(got), c.want) {
			t.Errorf("%s: got runs %v, want %v", c.name, ids(got), c.want)
		}
		if c.f.States == nil && st.read != len(c.want) {
			t.Errorf("%s: read %d runs to list %d", c.name, st.read, len(c.want))
		}
	}
	// The unfinished runs are 6 (one in a hundred): the listing reads those
	// and no page of history.
	if !st.active || st.pages != nil || st.read != len(deploying) {
		t.Errorf("deploying runs: read the unfinished runs: %v, pages %+v, %d runs; want only the %d unfinished",
			st.active, st.pages, st.read, len(deploying))
	}
}

// everyOther is ids[0], ids[2], ids[4] …
func everyOther(ids []uint64) []uint64 {
	var out []uint64
	for i := 0; i < len(ids); i += 2 {
		out = append(out, ids[i])
	}
	return out
}

func TestParseStatesRefusesUnknownNames(t *testing.T) {
	got, err := runbook.ParseStates("failed, rolled_back")
	if err != nil || !slices.Equal(got, []runbook.State{runbook.StateFailed, runbook.StateRolledBack}) {
		t.Errorf("ParseStates(failed, rolled_back) = %v, %v", got, err)
	}
	if _, err := runbook.ParseStates("failed,done"); err == nil {
		t.Error(`ParseStates("failed,done") accepted a state the workflow does not have`)
	}
}
