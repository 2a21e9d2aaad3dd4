package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// writeFor commits fn for a command whose context may carry a chat
// delivery: the first write of that delivery stores its key in the same
// transaction as fn's effect, so that both commit or neither does. When
// the key is already stored (the delivery is a retry of one acted on), the
// write stores nothing and returns runbook.ErrDuplicateDelivery.
func (s *Store) writeFor(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	d := runbook.Unclaimed(ctx)
	if d == nil {
		return s.write(fn)
	}
	err := s.write(func(tx *bolt.Tx) error {
		if err := claim(tx, d); err != nil {
			return err
		}
		return fn(tx)
	})
	if err == nil {
		d.MarkClaimed()
	}
	return err
}

// claim stores d's key, unless it is stored and not yet expired.
func claim(tx *bolt.Tx, d *runbook.Delivery) error {
	b := tx.Bucket(bIdem)
	if live(b.Get([]byte(d.Key)), d.Now) {
		return runbook.ErrDuplicateDelivery
	}
	return b.Put([]byte(d.Key), u64(uint64(d.Now.Add(d.TTL).UnixNano())))
}

// live reports whether a stored expiry v is still ahead of now.
func live(v []byte, now time.Time) bool {
	return len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now.UnixNano()
}

// Seen reports whether key was recorded and has not expired at now. It
// only reads: a delivery not seen is claimed by its command's first write.
func (s *Store) Seen(ctx context.Context, key string, now time.Time) (bool, error) {
	seen := false
	err := s.view(func(tx *bolt.Tx) error {
		seen = live(tx.Bucket(bIdem).Get([]byte(key)), now)
		return nil
	})
	return seen, err
}

// ClaimsDeliveries reports that this store's writes claim the delivery
// their context carries (see writeFor).
func (s *Store) ClaimsDeliveries() bool { return true }

// Once records key and reports whether this is its first sighting within
// ttl. Chat adapters use it to drop a platform's retried deliveries.
func (s *Store) Once(ctx context.Context, k string, ttl time.Duration, now time.Time) (bool, error) {
	first := false
	err := s.write(func(tx *bolt.Tx) error {
		first = false
		b := tx.Bucket(bIdem)
		if live(b.Get([]byte(k)), now) {
			return nil
		}
		first = true
		return b.Put([]byte(k), u64(uint64(now.Add(ttl).UnixNano())))
	})
	return first, err
}

// Forget removes key, so that its next sighting counts as the first: a
// delivery whose action failed inside Shipmate (nothing stored) is acted
// on when the platform retries it.
func (s *Store) Forget(ctx context.Context, k string) error {
	return s.write(func(tx *bolt.Tx) error {
		return tx.Bucket(bIdem).Delete([]byte(k))
	})
}

// pruneKeysBatch is how many expired delivery keys one commit deletes.
const pruneKeysBatch = 1000

// PruneIdempotency removes expired idempotency keys. It finds them in
// read transactions and deletes them a batch per shared commit, so that
// the writes beside it never wait for a scan of the whole bucket (an
// hour of a busy bot's deliveries), and it holds one batch in memory.
func (s *Store) PruneIdempotency(now time.Time) (int, error) {
	n := 0
	var from []byte
	for {
		var expired [][]byte
		var next []byte
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bIdem).Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for seen := 0; k != nil; k, v = c.Next() {
				// A batch ends at a thousand expired keys or ten
				// thousand read: no read holds the store long.
				if len(expired) == pruneKeysBatch || seen == 10*pruneKeysBatch {
					next = bytes.Clone(k)
					return nil
				}
				seen++
				if !live(v, now) {
					expired = append(expired, bytes.Clone(k))
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		deleted, err := s.deleteExpired(expired, now)
		n += deleted
		if err != nil {
			return n, err
		}
		if next == nil {
			return n, nil
		}
		from = next
	}
}

// deleteExpired deletes the keys that are still expired at now, in one
// shared commit, and returns how many it deleted.
func (s *Store) deleteExpired(keys [][]byte, now time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	deleted := 0
	err := s.write(func(tx *bolt.Tx) error {
		deleted = 0
		b := tx.Bucket(bIdem)
		for _, k := range keys {
			// A key forgotten since the read is gone; one claimed again
			// stays.
			if v := b.Get(k); v == nil || live(v, now) {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}
