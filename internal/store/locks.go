package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// Hold implements runbook.Store.
func (s *Store) Hold(ctx context.Context, l runbook.Lock) error {
	return s.writeFor(ctx, func(tx *bolt.Tx) error {
		holds := tx.Bucket(bHolds)
		var cur runbook.Lock
		if ok, err := getJSON(holds, key(l.App, l.Env), &cur); err != nil {
			return err
		} else if ok {
			return &runbook.LockedError{Lock: cur}
		}
		if err := putJSON(holds, key(l.App, l.Env), l); err != nil {
			return err
		}
		if !s.outbox || l.IncidentRun != 0 {
			return nil
		}
		return putOutbox(tx, "", runbook.AuditOfLock(runbook.AuditLock, l, l.Holder, l.Since))
	})
}

// Release implements runbook.Store.
func (s *Store) Release(ctx context.Context, app, env string, since time.Time) (runbook.Lock, bool, error) {
	var l runbook.Lock
	var ok bool
	err := s.writeFor(ctx, func(tx *bolt.Tx) (err error) {
		l, ok = runbook.Lock{}, false
		holds := tx.Bucket(bHolds)
		if ok, err = getJSON(holds, key(app, env), &l); err != nil || !ok {
			return err
		}
		if !since.IsZero() && !l.Since.Equal(since) {
			ok = false
			return &runbook.LockedError{Lock: l}
		}
		if err := holds.Delete(key(app, env)); err != nil {
			return err
		}
		if !s.outbox || l.IncidentRun != 0 {
			return nil
		}
		return putOutbox(tx, "", runbook.AuditOfRelease(ctx, l, time.Now().UTC()))
	})
	return l, ok, err
}

// HoldOf implements runbook.Store with one look-up.
func (s *Store) HoldOf(ctx context.Context, app, env string) (runbook.Lock, bool, error) {
	var l runbook.Lock
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(tx.Bucket(bHolds), key(app, env), &l)
		return err
	})
	return l, ok, err
}

// RunLockOf implements runbook.Store with one look-up.
func (s *Store) RunLockOf(ctx context.Context, app, env string) (uint64, bool, error) {
	var id uint64
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bRunLocks).Get(key(app, env)); len(v) == 8 {
			id = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return id, id != 0, err
}

// Holds implements runbook.Store: the explicit locks alone.
func (s *Store) Holds(ctx context.Context) ([]runbook.Lock, error) {
	var out []runbook.Lock
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bHolds).ForEach(func(_, v []byte) error {
			var l runbook.Lock
			if err := decode(v, &l); err != nil {
				return err
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}

// Locks returns the explicit holds, then the run locks (bot migrate
// compares them).
func (s *Store) Locks(ctx context.Context) ([]runbook.Lock, error) {
	out, err := s.Holds(ctx)
	if err != nil {
		return nil, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bRunLocks).ForEach(func(k, _ []byte) error {
			app, env, _ := bytes.Cut(k, []byte{0})
			l, ok, err := runLockFor(tx, string(app), string(env))
			if ok {
				out = append(out, l)
			}
			return err
		})
	})
	return out, err
}
