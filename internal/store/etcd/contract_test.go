package etcdstore

import (
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
