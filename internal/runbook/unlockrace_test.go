package runbook_test

import (
	"context"
	"sync"
	"testing"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// swappingStore lets the lock an unlock judges change under it: right
// after the engine reads the hold, once, the holder's lock is lifted and
// another person's is placed, as two commands from elsewhere would.
type swappingStore struct {
	runbook.Store
	once sync.Once
	next runbook.Lock
}

func (s *swappingStore) HoldOf(ctx context.Context, app, env string) (runbook.Lock, bool, error) {
	l, ok, err := s.Store.HoldOf(ctx, app, env)
	if ok && err == nil {
		s.once.Do(func() {
			if _, _, err = s.Store.Release(context.Background(), app, env, l.Since); err == nil {
				err = s.Store.Hold(context.Background(), s.next)
			}
		})
	}
	return l, ok, err
}

// An unlock lifts only the lock it judged: rita may lift her own lock, but
// when alice's lock took its place meanwhile rita's unlock leaves it, and
// the answer names it.
func TestUnlockLiftsOnlyTheLockItJudged(t *testing.T) {
	fx := newExec()
	var swap *swappingStore
	h := newHarnessWith(t, fx, func(c *runbook.Config) {
		swap = &swappingStore{Store: c.Store}
		c.Store = swap
	})
	if _, err := h.Do("rita", "/deploy lock demo staging release freeze"); err != nil {
		t.Fatal(err)
	}
	swap.next = runbook.Lock{App: "demo", Env: "staging", Holder: runbooktest.User("alice"), Reason: "hotfix", Since: h.Clock.Now().Add(1)}
	contains(t, h.Refused("rita", "/deploy unlock demo staging"), "demo in staging is locked by alice")
	l, held, err := h.Store.HoldOf(context.Background(), "demo", "staging")
	if err != nil || !held || l.Holder.ID != "alice" {
		t.Fatalf("after rita's unlock the hold is %+v (held %v, %v); want alice's, untouched", l, held, err)
	}
}
