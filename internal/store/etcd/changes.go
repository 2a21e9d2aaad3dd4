package etcdstore

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Rescan is sent by Changes in place of ids when changes may have been
// missed: the reader reads every run it cares about again.
const Rescan uint64 = 0

// maxPending bounds the ids Changes holds for a slow reader; past it they
// give way to one Rescan.
const maxPending = 4096

// Changes sends the id of each run whose record is created or changed,
// by any replica, after Changes returns, as etcd reports it, in order. An
// id that changes again before the reader took it is sent once, so a slow
// reader never holds up the watch, and what waits for it stays bounded.
// When the watch fails (etcd compacted the revisions it had not seen, or
// lost its leader), or cannot start, it sends Rescan and watches again.
// Runs that are deleted (by retention) are not sent. The channel is closed
// when ctx ends.
func (s *Store) Changes(ctx context.Context) <-chan uint64 {
	f := &feed{s: s, backoff: minBackoff}
	// The watch starts after the revision read here, so a change made
	// after Changes returned is not missed however late the watch starts.
	if resp, err := s.get(ctx, s.k.schema(), clientv3.WithCountOnly()); err == nil {
		f.rev = resp.Header.Revision
	} else {
		f.q.rescan()
	}
	out := make(chan uint64)
	go f.run(ctx, out)
	return out
}

// Bounds of the pause before a failed watch is made again.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// feed is the state of one Changes.
type feed struct {
	s       *Store
	q       pending
	rev     int64 // the last revision seen; the next watch starts after it
	wch     clientv3.WatchChan
	stop    context.CancelFunc
	backoff time.Duration
}

func (f *feed) run(ctx context.Context, out chan<- uint64) {
	defer close(out)
	retry := time.NewTimer(0) // when to watch (again)
	defer retry.Stop()
	defer func() {
		if f.stop != nil {
			f.stop()
		}
	}()
	for {
		// What the watch has is taken in before an id is offered, so that
		// changes that came together go out coalesced.
		select {
		case wr, ok := <-f.wch:
			f.take(wr, ok, retry)
			continue
		default:
		}
		var send chan<- uint64
		if f.q.len() > 0 {
			send = out
		}
		select {
		case <-ctx.Done():
			return
		case send <- f.q.peek():
			f.q.pop()
		case <-retry.C:
			f.watch(ctx)
		case wr, ok := <-f.wch:
			f.take(wr, ok, retry)
		}
	}
}

// watch watches the runs' records after f.rev (from now, if it is 0).
func (f *feed) watch(ctx context.Context) {
	// Without a leader a member may be cut off from the others and never
	// see a change; the watch then fails, and is made again.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithFilterDelete(), clientv3.WithCreatedNotify()}
	if f.rev > 0 {
		opts = append(opts, clientv3.WithRev(f.rev+1))
	}
	f.wch, f.stop = f.s.c.Watch(wctx, f.s.k.runs(), opts...), cancel
}

// take handles one response of the watch (ok false: the watch ended).
func (f *feed) take(wr clientv3.WatchResponse, ok bool, retry *time.Timer) {
	if !ok || wr.Err() != nil {
		f.stop()
		f.wch = nil
		if wr.CompactRevision > f.rev {
			// What was compacted away is lost; the watch goes on from
			// the oldest revision left, and the reader rescans.
			f.rev = wr.CompactRevision - 1
		}
		f.q.rescan()
		retry.Reset(f.backoff)
		f.backoff = min(2*f.backoff, maxBackoff)
		return
	}
	if wr.Created {
		if f.rev == 0 {
			f.rev = wr.Header.Revision
		}
		f.backoff = minBackoff
	}
	for _, ev := range wr.Events {
		f.rev = ev.Kv.ModRevision
		if id, ok := idOf(ev.Kv.Key); ok && ev.Type == mvccpb.PUT {
			f.q.push(id)
		}
	}
}

// pending is the ids waiting for a reader, in the order they first
// changed, each once. A Rescan covers every id, so it replaces them.
type pending struct {
	ids  []uint64
	have map[uint64]bool
}

func (q *pending) len() int { return len(q.ids) }

// peek is the next id to send (only meaningful when len() > 0).
func (q *pending) peek() uint64 {
	if len(q.ids) == 0 {
		return Rescan
	}
	return q.ids[0]
}

func (q *pending) pop() {
	delete(q.have, q.ids[0])
	q.ids = q.ids[1:]
}

func (q *pending) push(id uint64) {
	switch {
	case q.have[id], q.have[Rescan]:
	case len(q.ids) >= maxPending:
		q.rescan()
	default:
		if q.have == nil {
			q.have = map[uint64]bool{}
		}
		q.have[id] = true
		q.ids = append(q.ids, id)
	}
}

// rescan replaces whatever waits by one Rescan.
func (q *pending) rescan() {
	q.ids = append(q.ids[:0], Rescan)
	q.have = map[uint64]bool{Rescan: true}
}
