package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"iter"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
	"shipmate/internal/store/dump"
)

// Dump implements dump.Dumper. It streams from one read transaction, so
// what it streams is the store at one moment; fn runs inside it and must
// not write to this store (a write would wait for the read to end). It may
// read it (dump.Check does) only while nothing can compact or close the
// store meanwhile, as in bot migrate: a read would wait behind a
// compaction that waits for the Dump.
func (s *Store) Dump(ctx context.Context, fn func(dump.Item) error) error {
	return s.view(func(tx *bolt.Tx) error {
		if err := fn(dump.Counter{LastID: tx.Bucket(bRuns).Sequence()}); err != nil {
			return err
		}
		if err := dumpRuns(ctx, tx, fn); err != nil {
			return err
		}
		if err := tx.Bucket(bHolds).ForEach(func(_, v []byte) error {
			var l runbook.Lock
			if err := decode(v, &l); err != nil {
				return err
			}
			return fn(dump.Hold{Lock: l})
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bDeployed).ForEach(func(k, v []byte) error {
			d := dump.Deployed{}
			if err := decode(v, &d.Deployed); err != nil {
				return err
			}
			app, env, _ := bytes.Cut(k, []byte{0})
			d.App, d.Env = string(app), string(env)
			return fn(d)
		}); err != nil {
			return err
		}
		return tx.Bucket(bSucceeded).ForEach(func(k, v []byte) error {
			parts := bytes.SplitN(k, []byte{0}, 3)
			if len(parts) != 3 || len(v) != 8 {
				return nil // not a key this store writes
			}
			return fn(dump.Succeeded{App: string(parts[0]), Env: string(parts[1]), Version: string(parts[2]),
				RunID: binary.BigEndian.Uint64(v)})
		})
	})
}

// dumpRuns streams the runs in id order, each with its events and chat
// references, which are keyed by the run's id first.
func dumpRuns(ctx context.Context, tx *bolt.Tx, fn func(dump.Item) error) error {
	events, refs := tx.Bucket(bEvents).Cursor(), tx.Bucket(bRunRefs).Cursor()
	c := tx.Bucket(bRuns).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var r dump.Run
		if err := decode(v, &r.Run); err != nil {
			return err
		}
		for ek, ev := events.Seek(k); ek != nil && bytes.HasPrefix(ek, k); ek, ev = events.Next() {
			var e runbook.Event
			if err := decode(ev, &e); err != nil {
				return err
			}
			r.Events = append(r.Events, e)
		}
		for rk, rv := refs.Seek(k); rk != nil && bytes.HasPrefix(rk, k); rk, rv = refs.Next() {
			if r.Refs == nil {
				r.Refs = map[string]string{}
			}
			r.Refs[string(rk[len(k):])] = string(rv)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// loadBatch bounds the bytes one write transaction of Load holds: a
// store of 100,000 runs loads in a few hundred transactions, not one per
// run (each an fsync) nor one for all (all in memory).
const loadBatch = 8 << 20

// put is one key Load writes.
type put struct{ bucket, k, v []byte }

// Load implements dump.Loader. Only the items are written; the active
// set, the run locks of unfinished runs and the history indexes follow
// from the runs, as CreateRun would write them.
func (s *Store) Load(ctx context.Context, items iter.Seq2[dump.Item, error]) error {
	if err := s.view(s.checkEmpty); err != nil {
		return err
	}
	var pending []put
	size := 0
	flush := func() error {
		err := s.update(func(tx *bolt.Tx) error { return writePuts(tx, pending) })
		pending, size = pending[:0], 0
		return err
	}
	var last uint64
	for it, err := range items {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch it := it.(type) {
		case dump.Counter:
			last = max(last, it.LastID)
		case dump.Run:
			last = max(last, it.Run.ID)
		}
		ps, err := putsOf(it)
		if err != nil {
			return err
		}
		for _, p := range ps {
			size += len(p.k) + len(p.v)
		}
		pending = append(pending, ps...)
		if size >= loadBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	// The next CreateRun takes NextSequence: an id above every copied one.
	return s.update(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bRuns)
		return runs.SetSequence(max(runs.Sequence(), last))
	})
}

// checkEmpty refuses a store that holds runs, holds or versions.
func (s *Store) checkEmpty(tx *bolt.Tx) error {
	e := &dump.NotEmptyError{Where: s.path}
	for _, c := range []struct {
		bucket []byte
		n      *int
	}{{bRuns, &e.Runs}, {bHolds, &e.Holds}, {bDeployed, &e.Deployed}, {bSucceeded, &e.Succeeded}} {
		b := tx.Bucket(c.bucket)
		// Stats walks the whole bucket: count only when refusing.
		if k, _ := b.Cursor().First(); k != nil {
			*c.n = b.Stats().KeyN
		}
	}
	if e.Runs+e.Holds+e.Deployed+e.Succeeded > 0 {
		return e
	}
	return nil
}

// putsOf lays item out in this store's buckets.
func putsOf(item dump.Item) ([]put, error) {
	switch it := item.(type) {
	case dump.Run:
		return runPuts(it)
	case dump.Hold:
		v, err := json.Marshal(it.Lock)
		return []put{{bHolds, key(it.Lock.App, it.Lock.Env), v}}, err
	case dump.Deployed:
		v, err := json.Marshal(it.Deployed)
		return []put{{bDeployed, key(it.App, it.Env), v}}, err
	case dump.Succeeded:
		return []put{{bSucceeded, key(it.App, it.Env, it.Version), u64(it.RunID)}}, nil
	}
	return nil, nil
}

// runPuts are the keys of a run, as CreateRun, SaveRun, AppendEvents and
// SetRunRef leave them.
func runPuts(it dump.Run) ([]put, error) {
	if err := it.Validate(); err != nil {
		return nil, err
	}
	r := it.Run
	id := u64(r.ID)
	v, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	ps := []put{
		{bRuns, id, v},
		{bByApp, append(key(r.App, ""), id...), []byte(r.Env)},
		{bByAppEnv, append(key(r.App, r.Env, ""), id...), nil},
	}
	if !r.State.Terminal() {
		ps = append(ps, put{bActive, id, nil}, put{bRunLocks, key(r.App, r.Env), id})
	}
	for _, ev := range it.Events {
		v, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		ps = append(ps, put{bEvents, append(u64(r.ID), u64(ev.Seq)...), v})
	}
	for name, ref := range it.Refs {
		ps = append(ps, put{bRunRefs, append(u64(r.ID), name...), []byte(ref)})
	}
	return ps, nil
}

// writePuts writes ps; the buckets that grow at the end split their
// pages nearly full, as the ordinary writes do.
func writePuts(tx *bolt.Tx, ps []put) error {
	buckets := map[string]*bolt.Bucket{}
	for _, p := range ps {
		b := buckets[string(p.bucket)]
		if b == nil {
			b = tx.Bucket(p.bucket)
			switch string(p.bucket) {
			case string(bRuns), string(bEvents), string(bByApp), string(bByAppEnv):
				b.FillPercent = appendFill
			}
			buckets[string(p.bucket)] = b
		}
		if err := b.Put(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}
