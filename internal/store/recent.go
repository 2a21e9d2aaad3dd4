package store

import (
	"bytes"
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

// RunsPage implements runbook.RunLister: it walks the app and env's index,
// the app's, or the runs bucket backwards from just below q.Before, and
// decodes only the runs it returns.
func (s *Store) RunsPage(ctx context.Context, q runbook.RunPage) ([]*runbook.Run, error) {
	var out []*runbook.Run
	err := s.view(func(tx *bolt.Tx) error {
		out = nil
		runs := tx.Bucket(bRuns)
		idx, prefix := runs, []byte(nil)
		switch {
		case q.App != "" && q.Env != "":
			idx, prefix = tx.Bucket(bByAppEnv), key(q.App, q.Env, "")
		case q.App != "":
			idx, prefix = tx.Bucket(bByApp), key(q.App, "")
		}
		c := idx.Cursor()
		var k []byte
		if q.Before == 0 {
			k = lastWithPrefix(c, prefix)
		} else if k, _ = c.Seek(append(bytes.Clone(prefix), u64(q.Before)...)); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && (q.Limit <= 0 || len(out) < q.Limit); k, _ = c.Prev() {
			var err error
			if out, err = appendRun(out, runs, k[len(prefix):]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
