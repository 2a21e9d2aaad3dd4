package store

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// Recent returns the newest runs of every app and environment, newest
// first. It reads only the last limit entries of the runs bucket.
func (s *Store) Recent(ctx context.Context, limit int) ([]*runbook.Run, error) {
	var out []*runbook.Run
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bRuns).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var r runbook.Run
			if err := decode(v, &r); err != nil {
				return err
			}
			out = append(out, &r)
		}
		return nil
	})
	return out, err
}

// Record returns run id with its audit trail.
func (s *Store) Record(ctx context.Context, id uint64) (*runbook.Record, error) {
	return runbook.ReadRecord(ctx, s, id)
}
