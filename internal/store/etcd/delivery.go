package etcdstore

import (
	"context"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
)

// write is txn for a command whose context may carry a chat delivery: the
// first write of that delivery stores its key in the same transaction as
// the write's effect, so that both commit or neither does. The key must be
// as last read (absent at first): when another write stored it meanwhile
// and it has not expired, the delivery is a retry of one acted on, and
// write stores nothing and returns runbook.ErrDuplicateDelivery. When only
// the caller's compares failed, the caller gets its Else as from txn.
func (s *Store) write(ctx context.Context, cmps []clientv3.Cmp, then []clientv3.Op, els ...clientv3.Op) (*clientv3.TxnResponse, error) {
	d := runbook.Unclaimed(ctx)
	if d == nil {
		return s.txn(ctx, cmps, then, els...)
	}
	k := s.k.idem(d.Key)
	expires := strconv.FormatInt(d.Now.Add(d.TTL).UnixNano(), 10)
	var prev *mvccpb.KeyValue // the key as last read; nil: absent
	for {
		c := append(cmps[:len(cmps):len(cmps)], unchanged(k, prev))
		t := append(then[:len(then):len(then)], clientv3.OpPut(k, expires))
		e := append(els[:len(els):len(els)], clientv3.OpGet(k))
		resp, err := s.txn(ctx, c, t, e...)
		if err != nil {
			return nil, err
		}
		if resp.Succeeded {
			d.MarkClaimed()
			resp.Responses = resp.Responses[:len(resp.Responses)-1]
			return resp, nil
		}
		last := len(resp.Responses) - 1
		kv := kvOf(resp, last)
		resp.Responses = resp.Responses[:last]
		switch {
		case modRev(kv) == modRev(prev):
			return resp, nil // the caller's own compares failed
		case live(kv, d.Now):
			return nil, runbook.ErrDuplicateDelivery
		}
		prev = kv // gone or expired since: claim it over
	}
}

// live reports whether a delivery key kv (nil: absent) is remembered at now.
func live(kv *mvccpb.KeyValue, now time.Time) bool {
	if kv == nil {
		return false
	}
	exp, err := strconv.ParseInt(string(kv.Value), 10, 64)
	return err == nil && exp > now.UnixNano()
}

// Seen reports whether key was recorded and has not expired at now. It
// only reads: a delivery not seen is claimed by its command's first write.
func (s *Store) Seen(ctx context.Context, key string, now time.Time) (bool, error) {
	resp, err := s.get(ctx, s.k.idem(key))
	if err != nil || len(resp.Kvs) == 0 {
		return false, err
	}
	return live(resp.Kvs[0], now), nil
}

// ClaimsDeliveries reports that the store's writes claim the delivery
// their context carries (runbook.WithDelivery).
func (s *Store) ClaimsDeliveries() bool { return true }
