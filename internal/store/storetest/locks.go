package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

// lookUpOneLock: HoldOf and RunLockOf read one app and environment, and
// Holds lists the explicit locks without the runs'.
func lookUpOneLock(t *testing.T, s Backend) {
	ctx := context.Background()
	hold := runbook.Lock{App: "web", Env: "prod", Holder: bob, Reason: "db migration", Since: T0}
	freeze := runbook.Lock{App: "all", Env: "staging", Holder: alice, Reason: "code freeze", Since: T0.Add(time.Minute)}
	for _, l := range []runbook.Lock{hold, freeze} {
		if err := s.Hold(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	r := NewRun("api", "prod", "v1")
	MustCreate(t, s, r)

	if got, ok, err := s.HoldOf(ctx, "web", "prod"); err != nil || !ok || !cmp.Equal(got, hold) {
		t.Errorf("HoldOf(web, prod) = %+v, %v, %v; want %+v", got, ok, err, hold)
	}
	if got, ok, err := s.HoldOf(ctx, "all", "staging"); err != nil || !ok || !cmp.Equal(got, freeze) {
		t.Errorf("HoldOf(all, staging) = %+v, %v, %v; want %+v", got, ok, err, freeze)
	}
	for _, q := range [][2]string{{"web", "staging"}, {"api", "prod"}, {"we", "prod"}} {
		if got, ok, err := s.HoldOf(ctx, q[0], q[1]); err != nil || ok {
			t.Errorf("HoldOf(%s, %s) = %+v, %v, %v; want none", q[0], q[1], got, ok, err)
		}
	}
	if id, ok, err := s.RunLockOf(ctx, "api", "prod"); err != nil || !ok || id != r.ID {
		t.Errorf("RunLockOf(api, prod) = %d, %v, %v; want run %d", id, ok, err, r.ID)
	}
	if id, ok, err := s.RunLockOf(ctx, "web", "prod"); err != nil || ok {
		t.Errorf("RunLockOf(web, prod) = %d, %v, %v; want none (an explicit lock is no run's)", id, ok, err)
	}
	holds, err := s.Holds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 2 {
		t.Errorf("Holds = %+v; want the two explicit locks", holds)
	}
	for _, l := range holds {
		if l.RunID != 0 {
			t.Errorf("Holds listed run %d's lock", l.RunID)
		}
	}
	Finish(t, s, r, runbook.StateSucceeded)
	if id, ok, err := s.RunLockOf(ctx, "api", "prod"); err != nil || ok {
		t.Errorf("RunLockOf after the run finished = %d, %v, %v; want none", id, ok, err)
	}
}

// releaseOnlyWhatWasJudged: Release with a since lifts only the lock placed
// at that moment; a lock placed after it stays and is returned.
func releaseOnlyWhatWasJudged(t *testing.T, s Backend) {
	ctx := context.Background()
	first := runbook.Lock{App: "web", Env: "prod", Holder: bob, Reason: "mine", Since: T0}
	if err := s.Hold(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Release(ctx, "web", "prod", first.Since); err != nil || !ok {
		t.Fatalf("Release of the lock seen = %v, %v", ok, err)
	}
	second := runbook.Lock{App: "web", Env: "prod", Holder: alice, Reason: "hers", Since: T0.Add(time.Second)}
	if err := s.Hold(ctx, second); err != nil {
		t.Fatal(err)
	}
	// bob's unlock judged first; alice's lock is not his to lift.
	_, ok, err := s.Release(ctx, "web", "prod", first.Since)
	if ok {
		t.Fatal("Release lifted a lock placed after the one judged")
	}
	LockedBy(t, err, second)
	if got, held, err := s.HoldOf(ctx, "web", "prod"); err != nil || !held || !cmp.Equal(got, second) {
		t.Errorf("after the refused Release, HoldOf = %+v, %v, %v; want alice's lock", got, held, err)
	}
	if _, ok, err := s.Release(ctx, "web", "prod", second.Since); err != nil || !ok {
		t.Errorf("Release of alice's lock = %v, %v", ok, err)
	}
}
