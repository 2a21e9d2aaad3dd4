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

// A write whose transaction fails stores nothing, the delivery's key
// included, and leaves it unclaimed: the retry claims it. (The store
// contract claims deliveries on both backends; this fails a bbolt
// transaction from inside.)
func TestFailedTransactionLeavesDeliveryUnclaimed(t *testing.T) {
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
