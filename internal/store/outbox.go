package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// The outbox holds, for the webhooks, the audit entries of every change
// made while Options.Outbox is on, keyed by the bucket's sequence; a
// position is that sequence in 20 digits, so positions sort as strings.

var _ runbook.Outbox = (*Store)(nil)

// outboxRecord is an outbox entry as stored.
type outboxRecord struct {
	ID    string        `json:"id"`
	Audit runbook.Audit `json:"audit"`
}

// putOutbox appends a to the outbox under id (empty: its event type and
// its place in the outbox, such as "lock-17").
func putOutbox(tx *bolt.Tx, id string, a runbook.Audit) error {
	b := tx.Bucket(bOutbox)
	b.FillPercent = appendFill
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	if id == "" {
		id = a.Event + "-" + strconv.FormatUint(n, 10)
	}
	return putJSON(b, u64(n), outboxRecord{ID: id, Audit: a})
}

func outboxPos(n uint64) string { return fmt.Sprintf("%020d", n) }

// seqOfPos reads a position back; "" is before the first entry.
func seqOfPos(pos string) (uint64, error) {
	if pos == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(pos, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: bad outbox position %q", pos)
	}
	return n, nil
}

// OutboxAfter implements runbook.Outbox.
func (s *Store) OutboxAfter(ctx context.Context, pos string, limit int) ([]runbook.OutboxEntry, error) {
	after, err := seqOfPos(pos)
	if err != nil {
		return nil, err
	}
	var out []runbook.OutboxEntry
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var rec outboxRecord
			if err := decode(v, &rec); err != nil {
				return err
			}
			out = append(out, runbook.OutboxEntry{Pos: outboxPos(binary.BigEndian.Uint64(k)), ID: rec.ID, Audit: rec.Audit})
		}
		return nil
	})
	return out, err
}

// OutboxBacklog implements runbook.Outbox by counting the keys: the
// outbox is pruned to what is still to deliver.
func (s *Store) OutboxBacklog(ctx context.Context, pos string) (int, error) {
	after, err := seqOfPos(pos)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Seek(u64(after + 1)); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// Cursor implements runbook.Outbox.
func (s *Store) Cursor(ctx context.Context, name string) (string, bool, error) {
	var pos string
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bCursors); b != nil {
			if v := b.Get([]byte(name)); v != nil {
				pos, ok = string(v), true
			}
		}
		return nil
	})
	return pos, ok, err
}

// StartCursor implements runbook.Outbox.
func (s *Store) StartCursor(ctx context.Context, name string) (string, error) {
	var pos string
	err := s.write(func(tx *bolt.Tx) error {
		cursors := tx.Bucket(bCursors)
		if v := cursors.Get([]byte(name)); v != nil {
			pos = string(v)
			return nil
		}
		pos = outboxPos(tx.Bucket(bOutbox).Sequence())
		return cursors.Put([]byte(name), []byte(pos))
	})
	return pos, err
}

// SetCursor implements runbook.Outbox.
func (s *Store) SetCursor(ctx context.Context, name, pos string) error {
	if _, err := seqOfPos(pos); err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		return tx.Bucket(bCursors).Put([]byte(name), []byte(pos))
	})
}

// PruneOutbox implements runbook.Outbox, in one transaction.
func (s *Store) PruneOutbox(ctx context.Context, keep []string, cutoff time.Time) (dropped, undelivered int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		dropped, undelivered = 0, 0
		upto, err := pruneCursors(tx.Bucket(bCursors), keep)
		if err != nil {
			return err
		}
		b := tx.Bucket(bOutbox)
		var victims [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if binary.BigEndian.Uint64(k) > upto {
				var rec outboxRecord
				if err := decode(v, &rec); err != nil {
					return err
				}
				if cutoff.IsZero() || !rec.Audit.At.Before(cutoff) {
					break
				}
				undelivered++
			}
			victims = append(victims, k)
		}
		// Deleting while iterating a bbolt cursor skips keys: delete after.
		for _, k := range victims {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		dropped = len(victims)
		return nil
	})
	return dropped, undelivered, err
}

// pruneCursors drops the cursors not in keep and returns the lowest
// sequence of the kept ones: every entry up to it was delivered to every
// endpoint.
func pruneCursors(cursors *bolt.Bucket, keep []string) (uint64, error) {
	upto := ^uint64(0)
	var stale [][]byte
	err := cursors.ForEach(func(k, v []byte) error {
		if !slices.Contains(keep, string(k)) {
			stale = append(stale, k)
			return nil
		}
		n, err := seqOfPos(string(v))
		upto = min(upto, n)
		return err
	})
	for _, k := range stale {
		if err == nil {
			err = cursors.Delete(k)
		}
	}
	return upto, err
}
