package store

import (
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
