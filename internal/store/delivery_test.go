package store

import (
	"context"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

var tDelivery = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The first write of a delivery stores its key with its effect; a write
// of another delivery with that key stores nothing and says why; a
// command's later writes claim nothing; an expired key is claimed again.
func TestWriteClaimsDelivery(t *testing.T) {
	s := openTemp(t)
	ctx := runbook.WithDelivery(context.Background(), "x:cmd:1", time.Hour, tDelivery)
	l := runbook.Lock{App: "demo", Env: "staging", Since: tDelivery}
	if err := s.Hold(ctx, l); err != nil {
		t.Fatal(err)
	}
	if !runbook.DeliveryOf(ctx).Claimed() {
		t.Error("the delivery is not marked claimed after its write")
	}
	if seen, err := s.Seen(ctx, "x:cmd:1", tDelivery); err != nil || !seen {
		t.Fatalf("Seen after the write = %v, %v", seen, err)
	}
	// The same command writes again: no claim, no refusal.
	if _, ok, err := s.Release(ctx, "demo", "staging", time.Time{}); err != nil || !ok {
		t.Fatalf("the command's second write: %v %v", ok, err)
	}

	retry := runbook.WithDelivery(context.Background(), "x:cmd:1", time.Hour, tDelivery.Add(time.Minute))
	if err := s.Hold(retry, l); !errors.Is(err, runbook.ErrDuplicateDelivery) {
		t.Fatalf("the retry's write = %v, want ErrDuplicateDelivery", err)
	}
	if ls, _ := s.Locks(ctx); len(ls) != 0 {
		t.Errorf("the refused retry stored a lock: %+v", ls)
	}

	late := runbook.WithDelivery(context.Background(), "x:cmd:1", time.Hour, tDelivery.Add(2*time.Hour))
	if err := s.Hold(late, l); err != nil {
		t.Errorf("a write after the key expired = %v", err)
	}
}

// A write that fails stores nothing, the delivery's key included, and
// leaves it unclaimed: the command's next write, or the retry, claims it.
func TestFailedWriteLeavesDeliveryUnclaimed(t *testing.T) {
	s := openTemp(t)
	ctx := runbook.WithDelivery(context.Background(), "x:cmd:2", time.Hour, tDelivery)
	if err := s.AppendEvents(ctx, 42, runbook.Event{Type: "note"}); !errors.Is(err, runbook.ErrRunNotFound) {
		t.Fatalf("append to a missing run = %v", err)
	}
	boom := errors.New("disk I/O error")
	if err := s.writeFor(ctx, func(tx *bolt.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing write = %v", err)
	}
	if seen, _ := s.Seen(ctx, "x:cmd:2", tDelivery); seen || runbook.DeliveryOf(ctx).Claimed() {
		t.Fatalf("a failed write stored or claimed the key (seen %v)", seen)
	}
	retry := runbook.WithDelivery(context.Background(), "x:cmd:2", time.Hour, tDelivery)
	if err := s.Hold(retry, runbook.Lock{App: "demo", Env: "prod"}); err != nil {
		t.Fatalf("the retry = %v", err)
	}
	if seen, _ := s.Seen(ctx, "x:cmd:2", tDelivery); !seen {
		t.Error("the retry's write did not store the key")
	}
}
