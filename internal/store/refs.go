package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// RunRef returns the value a chat adapter stored for run id under name
// (where it put the run's summary, say).
func (s *Store) RunRef(ctx context.Context, id uint64, name string) (string, bool, error) {
	var val string
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		// Copied inside the transaction: bbolt's slices point into its
		// mapping, which a compaction unmaps once the transaction ends.
		if v := tx.Bucket(bRunRefs).Get(append(u64(id), name...)); v != nil {
			val, ok = string(v), true
		}
		return nil
	})
	return val, ok, err
}

// SetRunRef stores value for run id under name. It goes with the run when
// the retention drops it.
func (s *Store) SetRunRef(ctx context.Context, id uint64, name, value string) error {
	return s.write(func(tx *bolt.Tx) error {
		return tx.Bucket(bRunRefs).Put(append(u64(id), name...), []byte(value))
	})
}
