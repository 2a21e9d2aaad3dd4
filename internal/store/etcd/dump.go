package etcdstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
	"shipmate/internal/store/dump"
)

// Dump implements dump.Dumper. Every page is read at the revision of the
// first read, so what it streams is the store at one moment however long
// it takes (unless etcd compacts that revision meanwhile: then it fails).
func (s *Store) Dump(ctx context.Context, fn func(dump.Item) error) error {
	resp, err := s.c.Get(ctx, s.k.seq())
	if err != nil {
		return fmt.Errorf("store: dump: %w", err)
	}
	rev := resp.Header.Revision
	var last uint64
	if len(resp.Kvs) > 0 {
		if last, err = strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64); err != nil {
			return fmt.Errorf("store: damaged run counter %q", resp.Kvs[0].Value)
		}
	}
	if err := fn(dump.Counter{LastID: last}); err != nil {
		return err
	}
	if err := s.dumpRuns(ctx, rev, last, fn); err != nil {
		return err
	}
	at := clientv3.WithRev(rev)
	if err := s.rangeAll(ctx, s.k.holdsAll(), func(kv *mvccpb.KeyValue) error {
		var l runbook.Lock
		if err := json.Unmarshal(kv.Value, &l); err != nil {
			return fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		return fn(dump.Hold{Lock: l})
	}, at); err != nil {
		return err
	}
	if err := s.rangeAll(ctx, s.k.deployedAll(), func(kv *mvccpb.KeyValue) error {
		parts, ok := unescapeAll(kv.Key, s.k.deployedAll(), 2)
		if !ok {
			return nil // not a key this store writes
		}
		d := dump.Deployed{App: parts[0], Env: parts[1]}
		if err := json.Unmarshal(kv.Value, &d.Deployed); err != nil {
			return fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		return fn(d)
	}, at); err != nil {
		return err
	}
	return s.rangeAll(ctx, succeededAll(s.k), func(kv *mvccpb.KeyValue) error {
		parts, ok := unescapeAll(kv.Key, succeededAll(s.k), 3)
		id, err := strconv.ParseUint(string(kv.Value), 10, 64)
		if !ok || err != nil {
			return nil // not a key this store writes
		}
		return fn(dump.Succeeded{App: parts[0], Env: parts[1], Version: parts[2], RunID: id})
	}, at)
}

func succeededAll(k keys) string { return k.p + "/succeeded/" }

// unescapeAll splits what follows prefix in key into n path-escaped parts.
func unescapeAll(key []byte, prefix string, n int) ([]string, bool) {
	parts := strings.Split(strings.TrimPrefix(string(key), prefix), "/")
	if len(parts) != n {
		return nil, false
	}
	for i, p := range parts {
		var err error
		if parts[i], err = url.PathUnescape(p); err != nil {
			return nil, false
		}
	}
	return parts, true
}

// dumpWindow is how many run ids Dump reads at a time. etcd before 3.5
// walks a range read's whole range even when it returns a page of it, so
// paging through all events at once took minutes for 2,000,000 of them;
// ranges bounded by run ids cost what they return.
const dumpWindow = 100

// dumpRuns streams the runs in id order, up to last (the run counter) and
// then any beyond it. Their events and chat references are keyed by run
// id first, so the three ranges of each window of ids, read side by side,
// give each run its own.
func (s *Store) dumpRuns(ctx context.Context, rev int64, last uint64, fn func(dump.Item) error) error {
	evAll, refAll := s.k.p+"/events/", s.k.p+"/refs/"
	for lo := uint64(1); ; lo += dumpWindow {
		// Past the counter, the last window reaches the end of each range.
		beyond := lo > last
		window := func(prefix string) (string, string) {
			if beyond {
				return prefix + num(lo), clientv3.GetPrefixRangeEnd(prefix)
			}
			return prefix + num(lo), prefix + num(lo+dumpWindow)
		}
		runs := s.pager(rev, dumpWindow)(window(s.k.runs()))
		events := s.pager(rev, 5000)(window(evAll))
		refs := s.pager(rev, 1000)(window(refAll))
		if err := s.dumpWindow(ctx, runs, events, refs, fn); err != nil || beyond {
			return err
		}
	}
}

// dumpWindow streams the runs runs reads, each with its events and chat
// references from the two other pagers.
func (s *Store) dumpWindow(ctx context.Context, runs, events, refs *pager, fn func(dump.Item) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		kv, err := runs.peek(ctx)
		if err != nil || kv == nil {
			return err
		}
		runs.next()
		run, err := decodeRun(kv)
		if err != nil {
			return err
		}
		r := dump.Run{Run: run}
		err = events.under(ctx, s.k.events(run.ID), func(kv *mvccpb.KeyValue) error {
			var ev runbook.Event
			if err := json.Unmarshal(kv.Value, &ev); err != nil {
				return fmt.Errorf("store: decode %s: %w", kv.Key, err)
			}
			r.Events = append(r.Events, ev)
			return nil
		})
		if err != nil {
			return err
		}
		err = refs.under(ctx, s.k.refs(run.ID), func(kv *mvccpb.KeyValue) error {
			name, err := url.PathUnescape(string(kv.Key[len(s.k.refs(run.ID)):]))
			if err != nil {
				return nil // not a key this store writes
			}
			if r.Refs == nil {
				r.Refs = map[string]string{}
			}
			r.Refs[name] = string(kv.Value)
			return nil
		})
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// pager reads the keys of a range in order at one revision, a page at a
// time, for walking several ranges side by side.
type pager struct {
	s         *Store
	rev, page int64
	from, end string
	buf       []*mvccpb.KeyValue
	done      bool
}

// pager returns a maker of pagers over [from, end) at rev.
func (s *Store) pager(rev, page int64) func(from, end string) *pager {
	return func(from, end string) *pager {
		return &pager{s: s, rev: rev, page: page, from: from, end: end}
	}
}

// peek returns the next key without moving past it; nil at the end.
func (p *pager) peek(ctx context.Context) (*mvccpb.KeyValue, error) {
	for len(p.buf) == 0 && !p.done {
		resp, err := p.s.c.Get(ctx, p.from, clientv3.WithRange(p.end), clientv3.WithLimit(p.page), clientv3.WithRev(p.rev))
		if err != nil {
			return nil, fmt.Errorf("store: dump: %w", err)
		}
		p.buf, p.done = resp.Kvs, !resp.More || len(resp.Kvs) == 0
		if n := len(resp.Kvs); n > 0 {
			p.from = string(resp.Kvs[n-1].Key) + "\x00"
		}
	}
	if len(p.buf) == 0 {
		return nil, nil
	}
	return p.buf[0], nil
}

func (p *pager) next() { p.buf = p.buf[1:] }

// under skips the keys before prefix (those of runs that are gone, and a
// run's event counter, which sorts just before its events) and calls fn
// for each key under it.
func (p *pager) under(ctx context.Context, prefix string, fn func(*mvccpb.KeyValue) error) error {
	for {
		kv, err := p.peek(ctx)
		if err != nil || kv == nil {
			return err
		}
		k := string(kv.Key)
		under := strings.HasPrefix(k, prefix)
		if !under && k > prefix {
			return nil
		}
		if under {
			if err := fn(kv); err != nil {
				return err
			}
		}
		p.next()
	}
}

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
