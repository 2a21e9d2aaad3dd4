package etcdstore

import (
	"context"
	"fmt"
	"os"
	"testing"

	"shipmate/internal/store/storetest"
)

// The etcd store keeps the store contract against a real etcd.
func TestContract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) storetest.Backend { return openTest(tb) })
}

func BenchmarkCreateAndSave(b *testing.B) {
	storetest.BenchCreateAndSave(b, func(tb testing.TB) storetest.Backend { return openTest(tb) })
}

// The outbox's contract against a real etcd.
func TestOutboxContract(t *testing.T) {
	open := func(outbox bool) func(tb testing.TB) storetest.OutboxBackend {
		return func(tb testing.TB) storetest.OutboxBackend {
			s, err := Open(context.Background(), Config{
				Endpoints: []string{etcdEndpoint(tb)},
				Prefix:    fmt.Sprintf("/shipmate-test/%d-%d", os.Getpid(), prefixes.Add(1)),
				Outbox:    outbox,
			})
			if err != nil {
				tb.Fatalf("Open: %v", err)
			}
			tb.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	storetest.RunOutbox(t, open(true), open(false))
}
