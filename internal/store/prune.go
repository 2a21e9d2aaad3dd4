package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// pruneBatch bounds the runs one write transaction deletes, so that a
// first prune of a long history does not hold the writer for long.
const pruneBatch = 500

// PruneRuns deletes finished runs that ended before cutoff, with their
// audit trails and index entries, and returns how many went. It keeps,
// whatever their age, every unfinished run, the newest keep runs of each
// app and environment (so that /deploy history and rollback targets
// remain) and the run that deployed what each environment runs now. What
// the staging-first rule needs (which versions succeeded where) is an index
// of its own and stays. Freed pages are reused by later writes; the file
// does not shrink.
func (s *Store) PruneRuns(ctx context.Context, cutoff time.Time, keep int) (int, error) {
	keep = max(keep, 1)
	protected := map[uint64]bool{}
	err := s.view(func(tx *bolt.Tx) error {
		// The newest keep ids under each app and environment: the index
		// is sorted by app, env, then id.
		var prefix []byte
		var ids []uint64
		flush := func() {
			for _, id := range ids[max(0, len(ids)-keep):] {
				protected[id] = true
			}
			ids = ids[:0]
		}
		err := tx.Bucket(bByAppEnv).ForEach(func(k, _ []byte) error {
			if len(k) < 8 {
				return nil
			}
			p := k[:len(k)-8]
			if !bytes.Equal(p, prefix) {
				flush()
				prefix = append(prefix[:0], p...)
			}
			ids = append(ids, binary.BigEndian.Uint64(k[len(k)-8:]))
			return nil
		})
		flush()
		if err != nil {
			return err
		}
		return tx.Bucket(bDeployed).ForEach(func(_, v []byte) error {
			var d runbook.Deployed
			if err := decode(v, &d); err == nil && d.RunID != 0 {
				protected[d.RunID] = true
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}

	total := 0
	after := uint64(0) // the id the next batch starts after
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, next, done, err := s.pruneBatch(cutoff, protected, after)
		total += n
		if err != nil || done {
			return total, err
		}
		after = next
	}
}

// pruneBatch deletes up to pruneBatch prunable runs with ids above after,
// oldest first. done is true once it reached runs created at or after
// cutoff (all later ones are newer still) or the end.
func (s *Store) pruneBatch(cutoff time.Time, protected map[uint64]bool, after uint64) (n int, next uint64, done bool, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		n, next, done = 0, after, true
		type victim struct {
			id       uint64
			app, env string
		}
		var victims []victim
		c := tx.Bucket(bRuns).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
			if len(victims) == pruneBatch {
				done = false
				break
			}
			id := binary.BigEndian.Uint64(k)
			next = id
			var r struct {
				App        string        `json:"app"`
				Env        string        `json:"env"`
				State      runbook.State `json:"state"`
				CreatedAt  time.Time     `json:"created_at"`
				UpdatedAt  time.Time     `json:"updated_at"`
				FinishedAt time.Time     `json:"finished_at"`
			}
			if err := decode(v, &r); err != nil {
				return err
			}
			if !r.CreatedAt.Before(cutoff) {
				break
			}
			ended := r.FinishedAt
			if ended.IsZero() {
				ended = r.UpdatedAt
			}
			if !r.State.Terminal() || !ended.Before(cutoff) || protected[id] {
				continue
			}
			victims = append(victims, victim{id, r.App, r.Env})
		}
		// Deleting while a cursor walks a bucket skips keys: delete after.
		runs := tx.Bucket(bRuns)
		byApp, byAppEnv := tx.Bucket(bByApp), tx.Bucket(bByAppEnv)
		for _, vi := range victims {
			idk := u64(vi.id)
			for _, b := range []*bolt.Bucket{tx.Bucket(bEvents), tx.Bucket(bRunRefs)} {
				if err := deletePrefix(b, idk); err != nil {
					return err
				}
			}
			for _, del := range []struct {
				b *bolt.Bucket
				k []byte
			}{{runs, idk}, {byApp, append(key(vi.app, ""), idk...)}, {byAppEnv, append(key(vi.app, vi.env, ""), idk...)}} {
				if err := del.b.Delete(del.k); err != nil {
					return err
				}
			}
		}
		n = len(victims)
		return nil
	})
	return n, next, done, err
}

// deletePrefix deletes b's keys that start with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	// Deleting while a cursor walks a bucket skips keys: delete after.
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
