package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// CreateRun implements runbook.Store.
func (s *Store) CreateRun(ctx context.Context, r *runbook.Run, evs ...runbook.Event) error {
	var id uint64
	err := s.writeFor(ctx, func(tx *bolt.Tx) error {
		// Batch may call this more than once: everything below is computed
		// afresh from the transaction's view.
		if l, ok, err := lockFor(tx, r.App, r.Env); err != nil {
			return err
		} else if ok {
			return &runbook.LockedError{Lock: l}
		}
		runs := tx.Bucket(bRuns)
		runs.FillPercent = appendFill
		n, err := runs.NextSequence()
		if err != nil {
			return err
		}
		id = n
		stored := *r
		stored.ID, stored.Rev = id, 1
		if err := putJSON(runs, u64(id), &stored); err != nil {
			return err
		}
		byApp, byAppEnv := tx.Bucket(bByApp), tx.Bucket(bByAppEnv)
		byApp.FillPercent, byAppEnv.FillPercent = appendFill, appendFill
		if err := byApp.Put(append(key(r.App, ""), u64(id)...), []byte(r.Env)); err != nil {
			return err
		}
		if err := byAppEnv.Put(append(key(r.App, r.Env, ""), u64(id)...), nil); err != nil {
			return err
		}
		if !r.State.Terminal() {
			if err := tx.Bucket(bActive).Put(u64(id), nil); err != nil {
				return err
			}
			if err := tx.Bucket(bRunLocks).Put(key(r.App, r.Env), u64(id)); err != nil {
				return err
			}
		}
		return s.appendEvents(tx, &stored, evs)
	})
	if err != nil {
		return err
	}
	r.ID, r.Rev = id, 1
	return nil
}

// lockFor returns whatever holds app in env: an explicit hold on the app or
// on all apps, or the run lock of an active run.
func lockFor(tx *bolt.Tx, app, env string) (runbook.Lock, bool, error) {
	var l runbook.Lock
	holds := tx.Bucket(bHolds)
	for _, a := range []string{app, "all"} {
		if ok, err := getJSON(holds, key(a, env), &l); ok || err != nil {
			return l, ok, err
		}
	}
	return runLockFor(tx, app, env)
}

// runLockFor returns the lock of the active run of app in env, if any.
func runLockFor(tx *bolt.Tx, app, env string) (runbook.Lock, bool, error) {
	var l runbook.Lock
	idb := tx.Bucket(bRunLocks).Get(key(app, env))
	if idb == nil {
		return l, false, nil
	}
	var holder runbook.Run
	if ok, err := getJSON(tx.Bucket(bRuns), idb, &holder); err != nil || !ok {
		return l, false, err
	}
	return runbook.Lock{
		App: app, Env: env, Holder: holder.Requester, Since: holder.CreatedAt,
		RunID: holder.ID, Reason: fmt.Sprintf("run %s is %s", holder.Ref(), holder.State.Label()),
	}, true, nil
}

// SaveRun implements runbook.Store.
func (s *Store) SaveRun(ctx context.Context, r *runbook.Run, evs ...runbook.Event) error {
	err := s.writeFor(ctx, func(tx *bolt.Tx) error {
		runs := tx.Bucket(bRuns)
		var cur struct {
			Rev uint64 `json:"rev"`
		}
		ok, err := getJSON(runs, u64(r.ID), &cur)
		if err != nil {
			return err
		}
		if !ok {
			return runbook.ErrRunNotFound
		}
		if cur.Rev != r.Rev {
			return runbook.ErrStale
		}
		stored := *r
		stored.Rev = r.Rev + 1
		if err := putJSON(runs, u64(r.ID), &stored); err != nil {
			return err
		}
		if r.State.Terminal() {
			if err := tx.Bucket(bActive).Delete(u64(r.ID)); err != nil {
				return err
			}
			locks := tx.Bucket(bRunLocks)
			if bytes.Equal(locks.Get(key(r.App, r.Env)), u64(r.ID)) {
				if err := locks.Delete(key(r.App, r.Env)); err != nil {
					return err
				}
			}
			if r.Action == runbook.ActionDeploy && r.State == runbook.StateSucceeded {
				if err := tx.Bucket(bSucceeded).Put(key(r.App, r.Env, r.Version), u64(r.ID)); err != nil {
					return err
				}
			}
			if v, ok := r.Landed(); ok {
				d := runbook.Deployed{Version: v, RunID: r.ID, At: r.UpdatedAt}
				if err := putJSON(tx.Bucket(bDeployed), key(r.App, r.Env), d); err != nil {
					return err
				}
			}
		}
		return s.appendEvents(tx, &stored, evs)
	})
	if err != nil {
		return err
	}
	r.Rev++
	return nil
}

// appendEvents appends evs to the trail of r (as stored by this
// transaction) and, with the outbox on, their audit entries to the outbox.
func (s *Store) appendEvents(tx *bolt.Tx, r *runbook.Run, evs []runbook.Event) error {
	if len(evs) == 0 {
		return nil
	}
	id := r.ID
	b := tx.Bucket(bEvents)
	b.FillPercent = appendFill
	// Events of one run are keyed id ‖ seq: the last key under the run's
	// prefix holds its latest seq.
	prefix := u64(id)
	var seq uint64
	if k := lastWithPrefix(b.Cursor(), prefix); k != nil && bytes.HasPrefix(k, prefix) {
		seq = binary.BigEndian.Uint64(k[8:])
	}
	for i := range evs {
		seq++
		evs[i].Seq = seq // the caller's events learn their place (the audit log shows it)
		ev := evs[i]
		if err := putJSON(b, append(u64(id), u64(seq)...), ev); err != nil {
			return err
		}
		if s.outbox && runbook.ToOutbox(ev.Type) {
			if err := putOutbox(tx, runbook.RunEventID(id, seq), runbook.AuditOf(r, ev)); err != nil {
				return err
			}
		}
	}
	return nil
}

// lastWithPrefix moves c to the last key that starts with prefix, or to the
// key just before where it would be (check the result's prefix).
func lastWithPrefix(c *bolt.Cursor, prefix []byte) []byte {
	k, _ := c.Seek(append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 9)...))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	return k
}

// appendRun decodes the run stored under id and appends it to out.
func appendRun(out []*runbook.Run, runs *bolt.Bucket, id []byte) ([]*runbook.Run, error) {
	var r runbook.Run
	ok, err := getJSON(runs, id, &r)
	if ok {
		out = append(out, &r)
	}
	return out, err
}

// AppendEvents implements runbook.Store.
func (s *Store) AppendEvents(ctx context.Context, id uint64, evs ...runbook.Event) error {
	return s.writeFor(ctx, func(tx *bolt.Tx) error {
		var r runbook.Run
		if ok, err := getJSON(tx.Bucket(bRuns), u64(id), &r); err != nil {
			return err
		} else if !ok {
			return runbook.ErrRunNotFound
		}
		return s.appendEvents(tx, &r, evs)
	})
}

// Run implements runbook.Store.
func (s *Store) Run(ctx context.Context, id uint64) (*runbook.Run, error) {
	var r runbook.Run
	err := s.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bRuns), u64(id), &r)
		if err == nil && !ok {
			err = runbook.ErrRunNotFound
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// ActiveRuns implements runbook.Store. It reads only the active index, so
// start-up time does not grow with history.
func (s *Store) ActiveRuns(ctx context.Context) ([]*runbook.Run, error) {
	var out []*runbook.Run
	err := s.view(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bRuns)
		return tx.Bucket(bActive).ForEach(func(k, _ []byte) (err error) {
			out, err = appendRun(out, runs, k)
			return err
		})
	})
	return out, err
}

// NewestActive implements runbook.Store: it walks the active index from
// its end, reading limit runs and counting the others by key.
func (s *Store) NewestActive(ctx context.Context, limit int) ([]*runbook.Run, int, error) {
	var out []*runbook.Run
	total := 0
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, total = nil, 0
		runs := tx.Bucket(bRuns)
		c := tx.Bucket(bActive).Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			total++
			if len(out) < limit {
				if out, err = appendRun(out, runs, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, total, err
}

// Events implements runbook.Store.
func (s *Store) Events(ctx context.Context, id uint64) ([]runbook.Event, error) {
	var out []runbook.Event
	err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bRuns).Get(u64(id)) == nil {
			return runbook.ErrRunNotFound
		}
		prefix := u64(id)
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var ev runbook.Event
			if err := decode(v, &ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// History implements runbook.Store.
func (s *Store) History(ctx context.Context, app, env string, limit int) ([]*runbook.Run, error) {
	var out []*runbook.Run
	err := s.view(func(tx *bolt.Tx) error {
		idx, prefix := tx.Bucket(bByApp), key(app, "")
		if env != "" {
			idx, prefix = tx.Bucket(bByAppEnv), key(app, env, "")
		}
		runs := tx.Bucket(bRuns)
		c := idx.Cursor()
		// Walk the prefix backwards: newest id first.
		for k := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var err error
			if out, err = appendRun(out, runs, k[len(prefix):]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// HistorySince implements runbook.Store: the same walk as History, which
// stops at the first run created before since.
func (s *Store) HistorySince(ctx context.Context, app, env string, since time.Time, limit int) ([]*runbook.Run, error) {
	var out []*runbook.Run
	err := s.view(func(tx *bolt.Tx) error {
		idx, prefix := tx.Bucket(bByAppEnv), key(app, env, "")
		runs := tx.Bucket(bRuns)
		c := idx.Cursor()
		for k := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var r runbook.Run
			ok, err := getJSON(runs, k[len(prefix):], &r)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if r.CreatedAt.Before(since) {
				return nil
			}
			out = append(out, &r)
		}
		return nil
	})
	return out, err
}

// Succeeded implements runbook.Store with one look-up in the index of
// succeeded versions.
func (s *Store) Succeeded(ctx context.Context, app, env, version string) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bSucceeded).Get(key(app, env, version)) != nil
		return nil
	})
	return ok, err
}

// Deployed implements runbook.Store.
func (s *Store) Deployed(ctx context.Context, app, env string) (runbook.Deployed, bool, error) {
	var d runbook.Deployed
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(tx.Bucket(bDeployed), key(app, env), &d)
		return err
	})
	return d, ok, err
}
