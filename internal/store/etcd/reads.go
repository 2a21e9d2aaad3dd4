package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
)

func decodeRun(kv *mvccpb.KeyValue) (*runbook.Run, error) {
	var r runbook.Run
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return nil, fmt.Errorf("store: decode %s: %w", kv.Key, err)
	}
	return &r, nil
}

// Run implements runbook.Store.
func (s *Store) Run(ctx context.Context, id uint64) (*runbook.Run, error) {
	resp, err := s.get(ctx, s.k.run(id))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, runbook.ErrRunNotFound
	}
	return decodeRun(resp.Kvs[0])
}

// runs reads the runs ids in one revision per maxOps of them, in the given
// order, leaving out those that are gone.
func (s *Store) runs(ctx context.Context, ids []uint64) ([]*runbook.Run, error) {
	var out []*runbook.Run
	for len(ids) > 0 {
		n := min(len(ids), maxOps)
		ops := make([]clientv3.Op, n)
		for i, id := range ids[:n] {
			ops[i] = clientv3.OpGet(s.k.run(id))
		}
		resp, err := s.read(ctx, ops...)
		if err != nil {
			return nil, err
		}
		for i := range n {
			if kv := kvOf(resp, i); kv != nil {
				r, err := decodeRun(kv)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			}
		}
		ids = ids[n:]
	}
	return out, nil
}

// ActiveRuns implements runbook.Store. It reads only the active set.
func (s *Store) ActiveRuns(ctx context.Context) ([]*runbook.Run, error) {
	var ids []uint64
	err := s.rangeAll(ctx, s.k.activeAll(), func(kv *mvccpb.KeyValue) error {
		if id, ok := idOf(kv.Key); ok {
			ids = append(ids, id)
		}
		return nil
	}, clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	return s.runs(ctx, ids)
}

// NewestActive implements runbook.Store: the active set's count and its
// last limit keys (ids are zero-padded, so key order is id order), then
// those runs.
func (s *Store) NewestActive(ctx context.Context, limit int) ([]*runbook.Run, int, error) {
	resp, err := s.get(ctx, s.k.activeAll(), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(max(limit, 1))))
	if err != nil {
		return nil, 0, err
	}
	var ids []uint64
	for _, kv := range resp.Kvs {
		if id, ok := idOf(kv.Key); ok && len(ids) < limit {
			ids = append(ids, id)
		}
	}
	runs, err := s.runs(ctx, ids)
	return runs, int(resp.Count), err
}

// Events implements runbook.Store.
func (s *Store) Events(ctx context.Context, id uint64) ([]runbook.Event, error) {
	resp, err := s.read(ctx,
		clientv3.OpGet(s.k.run(id), clientv3.WithCountOnly()),
		clientv3.OpGet(s.k.events(id), clientv3.WithPrefix()))
	if err != nil {
		return nil, err
	}
	if resp.Responses[0].GetResponseRange().Count == 0 {
		return nil, runbook.ErrRunNotFound
	}
	var out []runbook.Event
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		var ev runbook.Event
		if err := json.Unmarshal(kv.Value, &ev); err != nil {
			return nil, fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// History implements runbook.Store: a limited range read of the app's (or
// app and env's) index, which lists the newest first.
func (s *Store) History(ctx context.Context, app, env string, limit int) ([]*runbook.Run, error) {
	return s.indexPage(ctx, app, env, 0, limit)
}

// HistorySince implements runbook.Store: History in pages that widen 4×
// at a time while every run read is inside the window.
func (s *Store) HistorySince(ctx context.Context, app, env string, since time.Time, limit int) ([]*runbook.Run, error) {
	for n := sincePage; ; n *= 4 {
		if limit > 0 {
			n = min(n, limit)
		}
		runs, err := s.History(ctx, app, env, n)
		if err != nil {
			return nil, err
		}
		for i, r := range runs {
			if r.CreatedAt.Before(since) {
				return runs[:i], nil
			}
		}
		if len(runs) < n || n == limit {
			return runs, nil
		}
	}
}

// sincePage is HistorySince's first page.
const sincePage = 16

// Recent returns the newest runs of every app and environment, newest
// first.
func (s *Store) Recent(ctx context.Context, limit int) ([]*runbook.Run, error) {
	if limit <= 0 {
		return nil, nil
	}
	return s.runsBelow(ctx, 0, limit)
}

// runsBelow returns up to limit runs (0: no cap) with ids below before (0:
// no bound), newest first. Ids are handed out in order, so it reads the
// runs key range below the counter, widening it only where retention left
// gaps.
func (s *Store) runsBelow(ctx context.Context, before uint64, limit int) ([]*runbook.Run, error) {
	resp, err := s.get(ctx, s.k.seq())
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	last, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("store: damaged run counter %q", resp.Kvs[0].Value)
	}
	hi := last + 1 // the range read is [lo, hi)
	if before > 0 {
		hi = min(hi, before)
	}
	span := uint64(limit)
	if limit <= 0 {
		span = hi // no cap: the whole range below hi at once
	}
	var out []*runbook.Run
	for ; (limit <= 0 || len(out) < limit) && hi > 1; span *= 2 {
		lo := max(1, hi-min(span, hi-1))
		got, err := s.get(ctx, s.k.run(lo), clientv3.WithRange(s.k.run(hi)))
		if err != nil {
			return nil, err
		}
		for i := len(got.Kvs) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
			r, err := decodeRun(got.Kvs[i])
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		hi = lo
	}
	return out, nil
}

// RunsPage implements runbook.RunLister. With an app it reads one page of
// keys of the app's (or app and env's) index, ascending from the key just
// past q.Before (ascending, as an index lists the newest first, so that
// etcd honours the limit), then those runs; without, the runs key range
// below q.Before.
func (s *Store) RunsPage(ctx context.Context, q runbook.RunPage) ([]*runbook.Run, error) {
	if q.App == "" {
		return s.runsBelow(ctx, q.Before, q.Limit)
	}
	return s.indexPage(ctx, q.App, q.Env, q.Before, q.Limit)
}

// indexPage reads up to limit runs (0: all) of app's index, or app and
// env's, newest first, with ids below before (0: from the newest).
func (s *Store) indexPage(ctx context.Context, app, env string, before uint64, limit int) ([]*runbook.Run, error) {
	prefix := s.k.byApp(app)
	if env != "" {
		prefix = s.k.byAppEnv(app, env)
	}
	from := prefix
	if before > 0 {
		from = prefix + inv(before-1) // ids below before: INVs from this one up
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithKeysOnly()}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.get(ctx, from, opts...)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if id, ok := idOfInv(kv.Key); ok {
			ids = append(ids, id)
		}
	}
	return s.runs(ctx, ids)
}

// Record returns run id with its audit trail.
func (s *Store) Record(ctx context.Context, id uint64) (*runbook.Record, error) {
	return runbook.ReadRecord(ctx, s, id)
}

// Succeeded implements runbook.Store with one key read.
func (s *Store) Succeeded(ctx context.Context, app, env, version string) (bool, error) {
	resp, err := s.get(ctx, s.k.succeeded(app, env, version), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
}

// Deployed implements runbook.Store.
func (s *Store) Deployed(ctx context.Context, app, env string) (runbook.Deployed, bool, error) {
	var d runbook.Deployed
	resp, err := s.get(ctx, s.k.deployed(app, env))
	if err != nil || len(resp.Kvs) == 0 {
		return d, false, err
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &d); err != nil {
		return d, false, fmt.Errorf("store: decode %s: %w", resp.Kvs[0].Key, err)
	}
	return d, true, nil
}

// RunRef returns the value a chat adapter stored for run id under name.
func (s *Store) RunRef(ctx context.Context, id uint64, name string) (string, bool, error) {
	resp, err := s.get(ctx, s.k.ref(id, name))
	if err != nil || len(resp.Kvs) == 0 {
		return "", false, err
	}
	return string(resp.Kvs[0].Value), true, nil
}

// SetRunRef stores value for run id under name; it goes with the run when
// the retention drops it.
func (s *Store) SetRunRef(ctx context.Context, id uint64, name, value string) error {
	_, err := s.write(ctx, nil, []clientv3.Op{clientv3.OpPut(s.k.ref(id, name), value)})
	return err
}
