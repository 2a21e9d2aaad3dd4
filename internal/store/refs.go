package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// RunRef returns the value a chat adapter stored for run id under name
// (where it put the run's summary, say).
func (s *Store) RunRef(ctx context.Context, id uint64, name string) (string, bool, error) {
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bRunRefs); b != nil {
			v = b.Get(append(u64(id), name...))
		}
		return nil
	})
	return string(v), v != nil, err
}

// SetRunRef stores value for run id under name. It goes with the run when
// the retention drops it.
func (s *Store) SetRunRef(ctx context.Context, id uint64, name, value string) error {
	return s.write(func(tx *bolt.Tx) error {
		return tx.Bucket(bRunRefs).Put(append(u64(id), name...), []byte(value))
	})
}
