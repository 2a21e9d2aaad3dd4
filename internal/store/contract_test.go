package store

import (
	"testing"
	"time"

	"shipmate/internal/store/storetest"
)

// The bbolt store keeps the store contract, on a real file per case.
func TestContract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) storetest.Backend { return openTemp(tb) })
}

func BenchmarkCreateAndSave(b *testing.B) {
	storetest.BenchCreateAndSave(b, func(tb testing.TB) storetest.Backend { return openTemp(tb) })
}

// The outbox's contract, on a real file per case.
func TestOutboxContract(t *testing.T) {
	open := func(outbox bool) func(tb testing.TB) storetest.OutboxBackend {
		return func(tb testing.TB) storetest.OutboxBackend {
			s, err := Open(dbPath(tb), Options{Timeout: 200 * time.Millisecond, Outbox: outbox})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	storetest.RunOutbox(t, open(true), open(false))
}
