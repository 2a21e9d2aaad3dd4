package etcdstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Expired delivery keys are deleted many to a transaction; a key claimed
// again between the prune's read and its delete stays, and the others of
// its transaction are still deleted.
func TestPruneKeepsAKeyClaimedMeanwhile(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	for i := range 10 {
		if first, err := s.Once(ctx, fmt.Sprintf("slack:%d", i), time.Minute, t0); err != nil || !first {
			t.Fatalf("Once(slack:%d) = %v, %v", i, first, err)
		}
	}
	var batch []*mvccpb.KeyValue
	if err := s.rangeAll(ctx, s.k.idemAll(), func(kv *mvccpb.KeyValue) error {
		batch = append(batch, kv)
		return nil
	}); err != nil || len(batch) != 10 {
		t.Fatalf("read %d keys, %v; want 10", len(batch), err)
	}
	// slack:3 expires and is claimed again by a retried delivery.
	if first, err := s.Once(ctx, "slack:3", time.Hour, t0.Add(2*time.Minute)); err != nil || !first {
		t.Fatalf("Once(slack:3) again = %v, %v", first, err)
	}
	if n, err := s.deleteUnchanged(ctx, batch); err != nil || n != 9 {
		t.Fatalf("deleteUnchanged = %d, %v; want 9", n, err)
	}
	for i := range 10 {
		seen, err := s.Seen(ctx, fmt.Sprintf("slack:%d", i), t0.Add(3*time.Minute))
		if err != nil || seen != (i == 3) {
			t.Errorf("Seen(slack:%d) = %v, %v; want %v", i, seen, err, i == 3)
		}
	}
}
