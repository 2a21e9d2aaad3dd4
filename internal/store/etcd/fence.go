package etcdstore

import (
	"context"
	"errors"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrDeposed is returned by a write made under a fence (Leadership.Fence)
// after that leadership ended: the lease behind it expired or was revoked,
// or its holder resigned. Nothing of the write was stored. The caller
// stops the leader's work rather than retrying.
var ErrDeposed = errors.New("store: this replica is no longer the leader; its write was refused")

// fence is the leader key a fenced write requires, at the revision it was
// created: a new term of anyone, this replica included, has another key.
type fence struct {
	key string
	rev int64
	// lost is told of the first refused write, which ends the term at
	// once rather than when the lease's keep-alive notices.
	lost *lost
}

// lost is closed once, by whoever learns first that a term is over.
type lost struct {
	once sync.Once
	ch   chan struct{}
}

func newLost() *lost { return &lost{ch: make(chan struct{})} }

func (l *lost) fire() {
	if l != nil {
		l.once.Do(func() { close(l.ch) })
	}
}

type fenceKey struct{}

func fenceOf(ctx context.Context) (fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(fence)
	return f, ok
}

// txn is one bounded transaction that writes: then if every compare of
// cmps holds, els otherwise. Under a fence in ctx it also requires the
// leader key, and its Else reads that key, so that a deposed leader is
// told apart from a stale revision: the first gets ErrDeposed, the second
// the response of els as without a fence.
func (s *Store) txn(ctx context.Context, cmps []clientv3.Cmp, then []clientv3.Op, els ...clientv3.Op) (*clientv3.TxnResponse, error) {
	f, fenced := fenceOf(ctx)
	if fenced {
		cmps = append(cmps[:len(cmps):len(cmps)], clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev))
		els = append(els[:len(els):len(els)], clientv3.OpGet(f.key, clientv3.WithKeysOnly()))
	}
	then, headed := s.withOutboxHead(then)
	rctx, cancel := s.bound(ctx)
	defer cancel()
	resp, err := s.c.Txn(rctx).If(cmps...).Then(then...).Else(els...).Commit()
	if err != nil {
		return nil, failedIn(ctx, rctx, err)
	}
	if headed && resp.Succeeded {
		// The caller reads the responses of its own operations.
		resp.Responses = resp.Responses[:len(resp.Responses)-1]
	}
	if !fenced || resp.Succeeded {
		return resp, nil
	}
	last := len(resp.Responses) - 1
	if kv := kvOf(resp, last); kv == nil || kv.CreateRevision != f.rev {
		f.lost.fire()
		return nil, ErrDeposed
	}
	resp.Responses = resp.Responses[:last]
	return resp, nil
}
