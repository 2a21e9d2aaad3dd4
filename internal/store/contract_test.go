package store

import (
	"testing"

	"shipmate/internal/store/storetest"
)

// The bbolt store keeps the store contract, on a real file per case.
func TestContract(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) storetest.Backend { return openTemp(tb) })
}

func BenchmarkCreateAndSave(b *testing.B) {
	storetest.BenchCreateAndSave(b, func(tb testing.TB) storetest.Backend { return openTemp(tb) })
}
