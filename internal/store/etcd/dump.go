package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

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
