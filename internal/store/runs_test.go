package store

import (
	"context"
	"errors"
	"shipmate/internal/store/storetest"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// The helpers the contract suite has too, for the bbolt store's own tests.
var (
	newRun       = storetest.NewRun
	ev           = storetest.Ev
	ids          = storetest.IDs
	runLock      = storetest.RunLock
	ignoreReason = storetest.IgnoreReason
	lockedBy     = storetest.LockedBy
)

func mustCreate(t testing.TB, s *Store, r *runbook.Run, evs ...runbook.Event) {
	storetest.MustCreate(t, s, r, evs...)
}

func mustSave(t testing.TB, s *Store, r *runbook.Run, evs ...runbook.Event) {
	storetest.MustSave(t, s, r, evs...)
}

func activeIDs(t testing.TB, s *Store) []uint64 { return storetest.ActiveIDs(t, s) }

func finish(t testing.TB, s *Store, r *runbook.Run, st runbook.State) { storetest.Finish(t, s, r, st) }

func TestOpenRepairsIndexesOfFinishedRuns(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	done := newRun("web", "prod", "v1")
	mustCreate(t, s, done)
	finish(t, s, done, runbook.StateSucceeded)
	live := newRun("api", "prod", "v1")
	mustCreate(t, s, live)
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage the file as a crash of an older version might have: index
	// entries and run locks for a finished run and for a missing one.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return errors.Join(
			tx.Bucket(bActive).Put(u64(done.ID), nil),
			tx.Bucket(bRunLocks).Put(key("web", "prod"), u64(done.ID)),
			tx.Bucket(bActive).Put(u64(404), nil),
			tx.Bucket(bRunLocks).Put(key("ghost", "prod"), u64(404)),
		)
	})
	rawView(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bActive).Stats().KeyN != 3 || tx.Bucket(bRunLocks).Stats().KeyN != 3 {
			t.Fatalf("damage not written")
		}
		return nil
	})

	s = openAt(t, path)
	if got := activeIDs(t, s); !cmp.Equal(got, []uint64{live.ID}) {
		t.Errorf("ActiveRuns after repair = %v, want [%d]", got, live.ID)
	}
	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]runbook.Lock{runLock(live)}, locks, ignoreReason); d != "" {
		t.Errorf("Locks after repair (-want +got):\n%s", d)
	}
	mustCreate(t, s, newRun("web", "prod", "v2"))
	mustCreate(t, s, newRun("ghost", "prod", "v1"))
	lockedBy(t, s.CreateRun(ctx, newRun("api", "prod", "v2")), runLock(live), ignoreReason)
}

func TestStartupReadsOnlyActiveRuns(t *testing.T) {
	ctx := context.Background()
	path := dbPath(t)
	s := openAt(t, path)
	active := seedHistory(t, s, 20_000, false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Overwrite some finished runs with garbage: start-up must not decode
	// them, because it must not read history at all.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		runs := tx.Bucket(bRuns)
		// Only in the older half, so that History below reads clean runs.
		for id := uint64(1); id <= 10_000; id += 997 {
			if !slices.Contains(active, id) {
				if err := runs.Put(u64(id), []byte("not json")); err != nil {
					return err
				}
			}
		}
		return nil
	})

	s = openAt(t, path)
	if got := activeIDs(t, s); !cmp.Equal(got, active) {
		t.Errorf("ActiveRuns = %v, want %v", got, active)
	}
	// The history is there all the same, in the store's own layout.
	h, err := s.History(ctx, "app-003", "", 5)
	if err != nil || len(h) != 5 {
		t.Fatalf("History(app-003) = %d runs, %v", len(h), err)
	}
	for i := 1; i < len(h); i++ {
		if h[i].ID >= h[i-1].ID {
			t.Errorf("History not newest first: %v", ids(h))
		}
	}
	if evs, err := s.Events(ctx, h[0].ID); err != nil || len(evs) == 0 {
		t.Errorf("Events(%d) = %d, %v", h[0].ID, len(evs), err)
	}
}
