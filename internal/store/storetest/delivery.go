package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// writeClaimsDelivery: the first write of a delivery stores its key with
// its effect; a write of another delivery with that key stores nothing and
// says why; a command's later writes claim nothing; a write refused for the
// caller's own reason stores no key; an expired key is claimed again.
func writeClaimsDelivery(t *testing.T, s Backend) {
	ctx := runbook.WithDelivery(context.Background(), "x:cmd:1", time.Hour, T0)
	l := runbook.Lock{App: "demo", Env: "staging", Holder: bob, Since: T0}
	if err := s.Hold(ctx, l); err != nil {
		t.Fatal(err)
	}
	if !runbook.DeliveryOf(ctx).Claimed() {
		t.Error("the delivery is not marked claimed after its write")
	}
	if seen, err := s.Seen(ctx, "x:cmd:1", T0); err != nil || !seen {
		t.Fatalf("Seen after the write = %v, %v", seen, err)
	}
	// The same command writes again: no claim, no refusal.
	if _, ok, err := s.Release(ctx, "demo", "staging", time.Time{}); err != nil || !ok {
		t.Fatalf("the command's second write: %v %v", ok, err)
	}

	retry := runbook.WithDelivery(context.Background(), "x:cmd:1", time.Hour, T0.Add(time.Minute))
	if err := s.Hold(retry, l); !errors.Is(err, runbook.ErrDuplicateDelivery) {
		t.Fatalf("the retry's write = %v, want ErrDuplicateDelivery", err)
	}
	if ls, _ := s.Holds(ctx); len(ls) != 0 {
		t.Errorf("the refused retry stored a lock: %+v", ls)
	}

	// A lock held already refuses the write for its own reason: no key.
	if err := s.Hold(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	other := runbook.WithDelivery(context.Background(), "x:cmd:9", time.Hour, T0)
	LockedBy(t, s.Hold(other, l), l)
	if seen, _ := s.Seen(ctx, "x:cmd:9", T0); seen || runbook.DeliveryOf(other).Claimed() {
		t.Errorf("a write refused by its own compare stored its delivery's key (seen %v)", seen)
	}

	late := runbook.WithDelivery(context.Background(), "x:cmd:1", time.Hour, T0.Add(2*time.Hour))
	if err := s.Hold(late, runbook.Lock{App: "web", Env: "prod", Holder: bob, Since: T0}); err != nil {
		t.Errorf("a write after the key expired = %v", err)
	}
	// A retried command that would create a run is told so, as it is.
	again := runbook.WithDelivery(context.Background(), "x:cmd:1", time.Hour, T0.Add(2*time.Hour+time.Minute))
	err := s.CreateRun(again, NewRun("api", "staging", "v1"), Ev(runbook.EvRequested, "", ""))
	if !errors.Is(err, runbook.ErrDuplicateDelivery) || err.Error() != runbook.ErrDuplicateDelivery.Error() {
		t.Errorf("a retried create = %v, want %v", err, runbook.ErrDuplicateDelivery)
	}
	if runs, _ := s.Recent(context.Background(), 10); len(runs) != 0 {
		t.Errorf("the retried create stored %d runs", len(runs))
	}
}

// failedWriteLeavesDeliveryUnclaimed: a write that fails stores nothing,
// the delivery's key included, and leaves it unclaimed: the retry claims it.
func failedWriteLeavesDeliveryUnclaimed(t *testing.T, s Backend) {
	ctx := runbook.WithDelivery(context.Background(), "x:cmd:2", time.Hour, T0)
	if err := s.AppendEvents(ctx, 42, Ev(runbook.EvTick, "", "")); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Fatalf("append to a missing run = %v", err)
	}
	if seen, _ := s.Seen(ctx, "x:cmd:2", T0); seen || runbook.DeliveryOf(ctx).Claimed() {
		t.Fatalf("a failed write stored or claimed the key (seen %v)", seen)
	}
	retry := runbook.WithDelivery(context.Background(), "x:cmd:2", time.Hour, T0)
	if err := s.Hold(retry, runbook.Lock{App: "demo", Env: "prod", Holder: bob, Since: T0}); err != nil {
		t.Fatalf("the retry = %v", err)
	}
	if seen, _ := s.Seen(ctx, "x:cmd:2", T0); !seen {
		t.Error("the retry's write did not store the key")
	}
}

// oneRetryActs: deliveries with one key written at once, each a different
// effect, commit exactly one of those effects; the others store nothing.
func oneRetryActs(t *testing.T, s Backend) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			ctx := runbook.WithDelivery(context.Background(), "x:cmd:3", time.Hour, T0)
			errs[i] = s.Hold(ctx, runbook.Lock{App: fmt.Sprintf("app-%d", i), Env: "prod", Holder: bob, Since: T0})
		})
	}
	wg.Wait()
	acted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			acted++
		case !errors.Is(err, runbook.ErrDuplicateDelivery):
			t.Errorf("delivery %d: %v", i, err)
		}
	}
	holds, err := s.Holds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if acted != 1 || len(holds) != 1 {
		t.Errorf("%d deliveries acted and %d locks stored; want exactly one of each", acted, len(holds))
	}
}
