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
// when ctx ends. Changes itself reads etcd once, within the request
// timeout.
func (s *Store) Changes(ctx context.Context) <-chan uint64 {
	// The watch starts after the revision read here, so a change made
	// after Changes returned is not missed however late the watch starts.
	resp, err := s.get(ctx, s.k.schema(), clientv3.WithCountOnly())
	if err != nil {
		return s.changesAfter(ctx, 0, true)
	}
	return s.changesAfter(ctx, resp.Header.Revision, false)
}

// changesAfter is Changes from after revision rev (0: from when the watch
// starts), beginning with a Rescan if rescan is set.
func (s *Store) changesAfter(ctx context.Context, rev int64, rescan bool) <-chan uint64 {
	var q pending
	if rescan {
		q.push(Rescan)
	}
	in := make(chan []uint64)
	out := make(chan uint64)
	go s.watchRuns(ctx, rev, in)
	go deliver(ctx, in, out, &q)
	return out
}

// Bounds of the pause before a failed watch is made again.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// watchRuns sends on to the ids of the runs created or changed after
// revision rev, those of one watch response together, until ctx ends.
// When the watch fails it sends Rescan and, after a pause, watches again.
// It may wait on etcd for long (a watch is made only once etcd answers);
// deliver, which the reader waits on, never does.
func (s *Store) watchRuns(ctx context.Context, rev int64, to chan<- []uint64) {
	for backoff := minBackoff; ; backoff = min(2*backoff, maxBackoff) {
		// Without a leader a member may be cut off from the others and
		// never see a change; the watch then fails, and is made again.
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithFilterDelete(), clientv3.WithCreatedNotify()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev+1))
		}
		for wr := range s.c.Watch(wctx, s.k.runs(), opts...) {
			if wr.Err() != nil {
				if wr.CompactRevision > rev {
					// What was compacted away is lost: the watch goes on
					// from the oldest revision left, and the reader rescans.
					rev = wr.CompactRevision - 1
				}
				break
			}
			if wr.Created && rev == 0 {
				rev = wr.Header.Revision
			}
			if wr.Created {
				backoff = minBackoff
			}
			var ids []uint64
			for _, ev := range wr.Events {
				rev = ev.Kv.ModRevision
				if id, ok := idOf(ev.Kv.Key); ok && ev.Type == mvccpb.PUT {
					ids = append(ids, id)
				}
			}
			if len(ids) > 0 && !sendIDs(ctx, to, ids) {
				break
			}
		}
		cancel()
		if !sendIDs(ctx, to, []uint64{Rescan}) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func sendIDs(ctx context.Context, to chan<- []uint64, ids []uint64) bool {
	select {
	case to <- ids:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliver hands the ids from in to out, holding those the reader has not
// taken yet in q, until ctx ends; then it closes out.
func deliver(ctx context.Context, in <-chan []uint64, out chan<- uint64, q *pending) {
	defer close(out)
	for {
		// What the watch has is taken in before an id is offered, so that
		// changes that came together go out coalesced.
		select {
		case ids := <-in:
			q.push(ids...)
			continue
		default:
		}
		var send chan<- uint64
		if q.len() > 0 {
			send = out
		}
		select {
		case <-ctx.Done():
			return
		case ids := <-in:
			q.push(ids...)
		case send <- q.peek():
			q.pop()
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

// push adds ids that changed; Rescan among them stands for all ids.
func (q *pending) push(ids ...uint64) {
	for _, id := range ids {
		switch {
		case q.have[id], q.have[Rescan]:
		case id == Rescan, len(q.ids) >= maxPending:
			q.rescan()
		default:
			if q.have == nil {
				q.have = map[uint64]bool{}
			}
			q.have[id] = true
			q.ids = append(q.ids, id)
		}
	}
}

// rescan replaces whatever waits by one Rescan.
func (q *pending) rescan() {
	q.ids = append(q.ids[:0], Rescan)
	q.have = map[uint64]bool{Rescan: true}
}
