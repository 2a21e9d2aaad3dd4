package etcdstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/store/dump"
)

// loadTxnBytes bounds the bytes one Load transaction writes, below etcd's
// default request limit of 1.5 MiB.
const loadTxnBytes = 1 << 20

// loadInFlight is how many Load transactions wait on etcd at once. Each
// key is written once and none depends on another, so their order does
// not matter; one at a time, every transaction waited for its own fsync.
const loadInFlight = 4

// Load implements dump.Loader, in transactions of at most maxOps keys.
// Only the items are written; the active set, the run locks of unfinished
// runs and the history indexes follow from the runs, as CreateRun would
// write them. The run counter goes last, once everything else is in.
func (s *Store) Load(ctx context.Context, items iter.Seq2[dump.Item, error]) error {
	if err := s.checkEmpty(ctx); err != nil {
		return err
	}
	l := &loader{s: s, ctx: ctx, sem: make(chan struct{}, loadInFlight)}
	defer l.wg.Wait()
	var last uint64
	for it, err := range items {
		if err != nil {
			return err
		}
		switch it := it.(type) {
		case dump.Counter:
			last = max(last, it.LastID)
		case dump.Run:
			last = max(last, it.Run.ID)
		}
		if err := s.loadItem(it, l.put); err != nil {
			return err
		}
	}
	if err := l.flush(); err != nil {
		return err
	}
	if err := l.wait(); err != nil {
		return err
	}
	// The next CreateRun takes the counter plus one: an id above every
	// copied one.
	if _, err := s.c.Put(ctx, s.k.seq(), strconv.FormatUint(last, 10)); err != nil {
		return fmt.Errorf("store: load: %w", err)
	}
	return nil
}

// loader gathers Load's writes into transactions and commits up to
// loadInFlight of them at once.
type loader struct {
	s    *Store
	ctx  context.Context
	sem  chan struct{}
	wg   sync.WaitGroup
	ops  []clientv3.Op
	size int

	mu  sync.Mutex
	err error // the first transaction's error
}

func (l *loader) put(k, v string) error {
	if len(l.ops) == maxOps || l.size+len(k)+len(v) > loadTxnBytes {
		if err := l.flush(); err != nil {
			return err
		}
	}
	l.ops, l.size = append(l.ops, clientv3.OpPut(k, v)), l.size+len(k)+len(v)
	return nil
}

// flush commits the gathered writes in the background, once fewer than
// loadInFlight transactions are in flight.
func (l *loader) flush() error {
	if err := l.failed(); err != nil || len(l.ops) == 0 {
		return err
	}
	ops := l.ops
	l.ops, l.size = nil, 0
	select {
	case l.sem <- struct{}{}:
	case <-l.ctx.Done():
		return l.ctx.Err()
	}
	l.wg.Go(func() {
		defer func() { <-l.sem }()
		if _, err := l.s.c.Txn(l.ctx).Then(ops...).Commit(); err != nil {
			l.mu.Lock()
			l.err = cmp.Or(l.err, fmt.Errorf("store: load: %w", err))
			l.mu.Unlock()
		}
	})
	return nil
}

func (l *loader) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// wait waits for the transactions in flight.
func (l *loader) wait() error {
	l.wg.Wait()
	return l.failed()
}

// checkEmpty refuses a store that holds runs, holds or versions.
func (s *Store) checkEmpty(ctx context.Context) error {
	prefixes := []string{s.k.runs(), s.k.holdsAll(), s.k.deployedAll(), succeededAll(s.k)}
	reads := make([]clientv3.Op, len(prefixes))
	for i, p := range prefixes {
		reads[i] = clientv3.OpGet(p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	}
	resp, err := s.c.Txn(ctx).Then(reads...).Commit()
	if err != nil {
		return fmt.Errorf("store: %s: %w", s.Where(), err)
	}
	n := make([]int, len(prefixes))
	for i := range n {
		n[i] = int(resp.Responses[i].GetResponseRange().Count)
	}
	e := &dump.NotEmptyError{Where: s.Where(), Runs: n[0], Holds: n[1], Deployed: n[2], Succeeded: n[3]}
	if e.Runs+e.Holds+e.Deployed+e.Succeeded > 0 {
		return e
	}
	return nil
}

// loadItem lays item out in this store's keys, passing each to put.
func (s *Store) loadItem(item dump.Item, put func(k, v string) error) error {
	k := s.k
	switch it := item.(type) {
	case dump.Run:
		return s.loadRun(it, put)
	case dump.Hold:
		v, err := json.Marshal(it.Lock)
		if err != nil {
			return err
		}
		return put(k.hold(it.Lock.App, it.Lock.Env), string(v))
	case dump.Deployed:
		v, err := json.Marshal(it.Deployed)
		if err != nil {
			return err
		}
		return put(k.deployed(it.App, it.Env), string(v))
	case dump.Succeeded:
		return put(k.succeeded(it.App, it.Env, it.Version), strconv.FormatUint(it.RunID, 10))
	}
	return nil
}

// loadRun writes a run's keys as CreateRun, SaveRun, AppendEvents and
// SetRunRef leave them.
func (s *Store) loadRun(it dump.Run, put func(k, v string) error) error {
	if err := it.Validate(); err != nil {
		return err
	}
	k, r := s.k, it.Run
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	kvs := [][2]string{
		{k.run(r.ID), string(data)},
		{k.byApp(r.App) + inv(r.ID), r.Env},
		{k.byAppEnv(r.App, r.Env) + inv(r.ID), ""},
	}
	if !r.State.Terminal() {
		kvs = append(kvs, [2]string{k.active(r.ID), ""}, [2]string{k.runLock(r.App, r.Env), strconv.FormatUint(r.ID, 10)})
	}
	for _, ev := range it.Events {
		v, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		kvs = append(kvs, [2]string{k.events(r.ID) + num(ev.Seq), string(v)})
	}
	if n := len(it.Events); n > 0 {
		kvs = append(kvs, [2]string{k.evSeq(r.ID), strconv.FormatUint(it.Events[n-1].Seq, 10)})
	}
	for name, ref := range it.Refs {
		kvs = append(kvs, [2]string{k.ref(r.ID, name), ref})
	}
	for _, kv := range kvs {
		if err := put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}
