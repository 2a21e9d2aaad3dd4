package etcdstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
	"shipmate/internal/store/storetest"
)

// next is the next id Changes sends.
func next(t *testing.T, ch <-chan uint64) uint64 {
	t.Helper()
	select {
	case id, ok := <-ch:
		if !ok {
			t.Fatal("Changes closed")
		}
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no change announced")
	}
	return 0
}

// until reads ids from ch up to and including last.
func until(t *testing.T, ch <-chan uint64, last uint64) []uint64 {
	t.Helper()
	var got []uint64
	for id := next(t, ch); ; id = next(t, ch) {
		got = append(got, id)
		if id == last {
			return got
		}
	}
}

// Runs created and saved, by this replica or another, are announced by
// id; a cancelled feed closes.
func TestChangesAnnouncesRuns(t *testing.T) {
	s := openTest(t)
	other := openLike(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	ch := s.Changes(ctx)

	r := storetest.NewRun("web", "prod", "1.0")
	storetest.MustCreate(t, other, r)
	if id := next(t, ch); id != r.ID {
		t.Fatalf("after a create: %d, want run %d", id, r.ID)
	}
	r.State = runbook.StateApproved
	storetest.MustSave(t, s, r)
	if id := next(t, ch); id != r.ID {
		t.Fatalf("after a save: %d, want run %d", id, r.ID)
	}
	// Events and other keys do not count as changes of a run's record;
	// the next id is the next run's.
	if err := s.AppendEvents(ctx, r.ID, storetest.Ev(runbook.EvTransition, "", "")); err != nil {
		t.Fatal(err)
	}
	r2 := storetest.NewRun("api", "prod", "1.0")
	storetest.MustCreate(t, s, r2)
	if id := next(t, ch); id != r2.ID {
		t.Fatalf("after events of %d and a create of %d: %d", r.ID, r2.ID, id)
	}

	cancel()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Changes still open after its context ended")
		}
	}
}

// A reader that does not keep up gets each changed run once, in the
// order they first changed, not every change.
func TestChangesCoalesceForASlowReader(t *testing.T) {
	s := openTest(t)
	ch := s.Changes(t.Context())
	a := storetest.NewRun("web", "prod", "1.0")
	b := storetest.NewRun("api", "prod", "1.0")
	storetest.MustCreate(t, s, a)
	storetest.MustCreate(t, s, b)
	const saves = 20
	for range saves {
		storetest.MustSave(t, s, a)
		storetest.MustSave(t, s, b)
	}
	last := storetest.NewRun("db", "prod", "1.0")
	storetest.MustCreate(t, s, last)

	got := until(t, ch, last.ID)
	var first []uint64
	seen := map[uint64]bool{}
	for _, id := range got {
		if !seen[id] {
			seen[id] = true
			first = append(first, id)
		}
	}
	if d := cmp.Diff([]uint64{a.ID, b.ID, last.ID}, first); d != "" {
		t.Errorf("runs in the order they first changed (-want +got):\n%s", d)
	}
	// Coalescing is exact once the feed has taken in every change (see
	// TestPending); this asks only that the reader is spared most of them.
	if len(got) > saves {
		t.Errorf("a slow reader got %d ids for %d changes: %v", len(got), 2*saves+3, got)
	}
}

// Runs deleted by retention are not announced.
func TestChangesIgnoreDeletedRuns(t *testing.T) {
	s := openTest(t)
	ch := s.Changes(t.Context())
	var old []*runbook.Run
	for _, v := range []string{"1", "2"} {
		r := storetest.NewRun("web", "dev", v)
		storetest.MustCreate(t, s, r)
		storetest.Finish(t, s, r, runbook.StateFailed)
		old = append(old, r)
	}
	mark := storetest.NewRun("api", "prod", "1.0")
	storetest.MustCreate(t, s, mark)
	until(t, ch, mark.ID)

	n, err := s.PruneRuns(t.Context(), storetest.T0.AddDate(1, 0, 0), 1)
	if err != nil || n != 1 {
		t.Fatalf("PruneRuns = %d, %v; want run %d gone", n, err, old[0].ID)
	}
	after := storetest.NewRun("api", "staging", "1.0")
	storetest.MustCreate(t, s, after)
	if id := next(t, ch); id != after.ID {
		t.Errorf("after pruning run %d: %d, want the next run %d", old[0].ID, id, after.ID)
	}
}

// The ids waiting for a reader are each there once, in the order they
// first came, and a rescan stands for all of them.
func TestPending(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(q *pending)
		want []uint64
	}{
		{"in order", func(q *pending) { q.push(3); q.push(1); q.push(2) }, []uint64{3, 1, 2}},
		{"each once", func(q *pending) { q.push(3); q.push(1); q.push(3); q.push(1); q.push(2) }, []uint64{3, 1, 2}},
		{"again once taken", func(q *pending) { q.push(3); q.pop(); q.push(3) }, []uint64{3}},
		{"rescan replaces", func(q *pending) { q.push(3, 1, Rescan) }, []uint64{Rescan}},
		{"rescan covers later ids", func(q *pending) { q.push(Rescan, 3) }, []uint64{Rescan}},
		{"ids after a taken rescan", func(q *pending) { q.push(Rescan); q.pop(); q.push(3) }, []uint64{3}},
		{"too many become a rescan", func(q *pending) {
			for id := range uint64(maxPending + 1) {
				q.push(id + 1)
			}
		}, []uint64{Rescan}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q pending
			tc.do(&q)
			var got []uint64
			for q.len() > 0 {
				got = append(got, q.peek())
				q.pop()
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// A watch that fell behind what etcd compacted away sends Rescan, then
// goes on from what is left.
func TestChangesRescanAfterCompaction(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	raw := rawClient(t, s)
	revision := func() int64 {
		resp, err := raw.Get(ctx, s.k.schema())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	behind := revision() // where a feed that fell behind stopped
	r := storetest.NewRun("web", "prod", "1.0")
	storetest.MustCreate(t, s, r)
	storetest.MustSave(t, s, r)
	if _, err := raw.Compact(ctx, revision()); err != nil {
		t.Fatalf("Compact: %v", err)
	}

	ch := s.changesAfter(ctx, behind, false)
	if id := next(t, ch); id != Rescan {
		t.Fatalf("first after compaction: %d, want Rescan", id)
	}
	n := storetest.NewRun("api", "prod", "1.0")
	storetest.MustCreate(t, s, n)
	until(t, ch, n.ID)
}
