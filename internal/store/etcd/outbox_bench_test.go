package etcdstore

import (
	"context"
	"fmt"
	"os"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
)

// BenchmarkIdleOutboxPoll is what a webhook endpoint's poll costs when it
// has delivered everything and 5,000 delivered entries wait for the
// hourly prune: OutboxAfter and OutboxBacklog from the end. With the
// outbox's head key ("head") the poll reads that key; without one (a
// store written before there was one) etcd reads the whole outbox to
// filter it by revision.
func BenchmarkIdleOutboxPoll(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, Config{
		Endpoints: []string{etcdEndpoint(b)},
		Prefix:    fmt.Sprintf("/shipmate-test/%d-%d", os.Getpid(), prefixes.Add(1)),
		Outbox:    true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for batch := range 50 {
		ops := make([]clientv3.Op, 0, 100)
		for i := range 100 {
			op, err := s.outboxOp(runEntryKey(uint64(batch*100+i+1), 1), "", runbook.Audit{Event: "note", App: "bench", Env: "prod"})
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, op)
		}
		if _, err := s.txn(ctx, nil, ops); err != nil {
			b.Fatal(err)
		}
	}
	end, err := s.StartCursor(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	poll := func(b *testing.B) {
		for b.Loop() {
			got, err := s.OutboxAfter(ctx, end, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("OutboxAfter from the end = %d entries, %v", len(got), err)
			}
			if n, err := s.OutboxBacklog(ctx, end); err != nil || n != 0 {
				b.Fatalf("OutboxBacklog from the end = %d, %v", n, err)
			}
		}
	}
	b.Run("head", poll)
	if _, err := s.c.Delete(ctx, s.k.outboxHead()); err != nil {
		b.Fatal(err)
	}
	b.Run("no-head", poll)
}
