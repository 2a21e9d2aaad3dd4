package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

func newRun(app, env, version string) *runbook.Run {
	return &runbook.Run{
		Action:    runbook.ActionDeploy,
		App:       app,
		Env:       env,
		Version:   version,
		Requester: alice,
		Reason:    "release",
		Origin:    runbook.Origin{Platform: "slack", Channel: "C1"},
		State:     runbook.StateRequested,
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

func ev(typ string, from, to runbook.State) runbook.Event {
	return runbook.Event{At: t0, Type: typ, Actor: &alice, From: from, To: to}
}

func mustCreate(t testing.TB, s *Store, r *runbook.Run, evs ...runbook.Event) {
	t.Helper()
	if err := s.CreateRun(context.Background(), r, evs...); err != nil {
		t.Fatalf("CreateRun(%s/%s): %v", r.App, r.Env, err)
	}
}

func mustSave(t testing.TB, s *Store, r *runbook.Run, evs ...runbook.Event) {
	t.Helper()
	if err := s.SaveRun(context.Background(), r, evs...); err != nil {
		t.Fatalf("SaveRun(%d): %v", r.ID, err)
	}
}

// finish moves r to a terminal state and saves it.
func finish(t testing.TB, s *Store, r *runbook.Run, st runbook.State) {
	t.Helper()
	from := r.State
	r.State, r.UpdatedAt, r.FinishedAt = st, r.UpdatedAt.Add(time.Minute), r.UpdatedAt.Add(time.Minute)
	mustSave(t, s, r, ev(runbook.EvTransition, from, st))
}

func ids(runs []*runbook.Run) []uint64 {
	out := []uint64{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func activeIDs(t testing.TB, s *Store) []uint64 {
	t.Helper()
	runs, err := s.ActiveRuns(context.Background())
	if err != nil {
		t.Fatalf("ActiveRuns: %v", err)
	}
	got := ids(runs)
	slices.Sort(got)
	return got
}

// runLock is the lock an active run r holds, but for its Reason text.
func runLock(r *runbook.Run) runbook.Lock {
	return runbook.Lock{App: r.App, Env: r.Env, Holder: r.Requester, Since: r.CreatedAt, RunID: r.ID}
}

var ignoreReason = cmpopts.IgnoreFields(runbook.Lock{}, "Reason")

// lockedBy asserts that err is a *runbook.LockedError for want.
func lockedBy(t testing.TB, err error, want runbook.Lock, opts ...cmp.Option) {
	t.Helper()
	var le *runbook.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("error = %v, want a *runbook.LockedError", err)
	}
	if d := cmp.Diff(want, le.Lock, opts...); d != "" {
		t.Errorf("LockedError.Lock (-want +got):\n%s", d)
	}
}

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
