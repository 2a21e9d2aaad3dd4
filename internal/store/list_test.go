package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store/storetest"
)

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
	var reads []int
	recent := func(ctx context.Context, n int) ([]*runbook.Run, error) {
		reads = append(reads, n)
		return s.Recent(ctx, n)
	}

	// The last 50 hours hold runs 151..200 (ids start at 1); checkout's
	// are the odd ids, the runs of even index.
	got, err := runbook.ListRuns(ctx, recent, runbook.RunFilter{App: "checkout", Since: storetest.T0.Add(150 * time.Hour)})
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
	if !slices.Equal(reads, []int{64}) {
		t.Errorf("a listing of the last 50 of 200 runs read pages %v, want one page of 64", reads)
	}

	// Failed runs are those of index 0, 3, 6 … (ids 1, 4, 7 …): the
	// newest three are 199, 196 and 193, found past the first page's
	// worth of checks without a since.
	reads = nil
	got, err = runbook.ListRuns(ctx, recent, runbook.RunFilter{States: []runbook.State{runbook.StateFailed}, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []uint64{199, 196, 193}) {
		t.Errorf("the 3 newest failed runs: got %v, want [199 196 193]", ids(got))
	}

	// Everything failed in billing: ids 4, 10, 16 … 196 (index 3 mod 6),
	// which takes reading the whole store in widening pages.
	reads = nil
	got, err = runbook.ListRuns(ctx, recent, runbook.RunFilter{App: "billing", States: []runbook.State{runbook.StateFailed}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 33 || got[0].ID != 196 || got[len(got)-1].ID != 4 {
		t.Errorf("billing's failed runs: got %d (%v), want 33 from 196 down to 4", len(got), ids(got))
	}
	if !slices.Equal(reads, []int{64, 128, 256}) {
		t.Errorf("a listing of the whole store read pages %v, want 64, 128, 256", reads)
	}
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
