package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
)

// Once records key and reports whether this is its first sighting within
// ttl of now. The expiry is stored and judged against the given now (not
// an etcd lease, which would follow etcd's clock rather than the bot's);
// PruneIdempotency drops expired keys.
func (s *Store) Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	k := s.k.idem(key)
	resp, err := s.read(ctx, clientv3.OpGet(k))
	for err == nil {
		kv := kvOf(resp, 0)
		if live(kv, now) {
			return false, nil
		}
		// Not write: this is the delivery's key itself, which write would
		// claim in the same transaction.
		resp, err = s.txn(ctx, []clientv3.Cmp{unchanged(k, kv)},
			[]clientv3.Op{clientv3.OpPut(k, strconv.FormatInt(now.Add(ttl).UnixNano(), 10))}, clientv3.OpGet(k))
		if err == nil && resp.Succeeded {
			return true, nil
		}
	}
	return false, err
}

// Forget removes key, so that its next sighting counts as the first: a
// delivery whose action failed inside Shipmate is acted on when the
// platform retries it.
func (s *Store) Forget(ctx context.Context, key string) error {
	_, err := s.txn(ctx, nil, []clientv3.Op{clientv3.OpDelete(s.k.idem(key))})
	return err
}

// PruneIdempotency removes expired idempotency keys. A key seen again
// meanwhile (its revision moved) stays.
func (s *Store) PruneIdempotency(now time.Time) (int, error) {
	ctx := context.Background()
	var expired []*mvccpb.KeyValue
	err := s.rangeAll(ctx, s.k.idemAll(), func(kv *mvccpb.KeyValue) error {
		if exp, err := strconv.ParseInt(string(kv.Value), 10, 64); err != nil || exp <= now.UnixNano() {
			expired = append(expired, kv)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for len(expired) > 0 {
		batch := expired[:min(pruneKeysBatch, len(expired))]
		expired = expired[len(batch):]
		k, err := s.deleteUnchanged(ctx, batch)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// pruneKeysBatch is how many expired delivery keys one transaction
// deletes, each with a compare: etcd refuses more than 128 of either in a
// transaction (--max-txn-ops), and the fence may add a compare.
const pruneKeysBatch = 64

// deleteUnchanged deletes the keys of batch nobody changed since they were
// read, in one transaction; when one of them changed (a delivery claimed
// again), the others are deleted one by one. It returns how many it
// deleted.
func (s *Store) deleteUnchanged(ctx context.Context, batch []*mvccpb.KeyValue) (int, error) {
	cmps := make([]clientv3.Cmp, len(batch))
	ops := make([]clientv3.Op, len(batch))
	for i, kv := range batch {
		cmps[i], ops[i] = unchanged(string(kv.Key), kv), clientv3.OpDelete(string(kv.Key))
	}
	resp, err := s.txn(ctx, cmps, ops)
	if err != nil {
		return 0, err
	}
	if resp.Succeeded {
		return len(batch), nil
	}
	n := 0
	for i := range batch {
		resp, err := s.txn(ctx, cmps[i:i+1], ops[i:i+1])
		if err != nil {
			return n, err
		}
		if resp.Succeeded {
			n++
		}
	}
	return n, nil
}

// pruneScan is how many runs PruneRuns reads at a time, oldest first.
const pruneScan = 500

// opsPerVictim is the deletes of one pruned run: the run, its events and
// their counter, its chat references and its two index entries.
const opsPerVictim = 5

// PruneRuns deletes finished runs that ended before cutoff, with their
// audit trails and index entries, and returns how many went. It keeps,
// whatever their age, every unfinished run, the newest keep runs of each
// app and environment and the run behind what each environment runs now.
// The index of succeeded versions stays.
func (s *Store) PruneRuns(ctx context.Context, cutoff time.Time, keep int) (int, error) {
	protected, err := s.protectedRuns(ctx, max(keep, 1))
	if err != nil {
		return 0, err
	}
	total := 0
	from := s.k.run(1)
	end := clientv3.GetPrefixRangeEnd(s.k.runs())
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		resp, err := s.get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(pruneScan))
		if err != nil {
			return total, err
		}
		victims, done, err := prunable(resp.Kvs, cutoff, protected)
		if err != nil {
			return total, err
		}
		n, err := s.deleteRuns(ctx, victims)
		total += n
		if err != nil || done || !resp.More {
			return total, err
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

type victim struct {
	kv       *mvccpb.KeyValue
	id       uint64
	app, env string
}

// prunable picks the runs of kvs that may go; done is true once it reached
// a run created at or after cutoff (all later ones are newer still).
func prunable(kvs []*mvccpb.KeyValue, cutoff time.Time, protected map[uint64]bool) ([]victim, bool, error) {
	var out []victim
	for _, kv := range kvs {
		var r struct {
			ID         uint64        `json:"id"`
			App        string        `json:"app"`
			Env        string        `json:"env"`
			State      runbook.State `json:"state"`
			CreatedAt  time.Time     `json:"created_at"`
			UpdatedAt  time.Time     `json:"updated_at"`
			FinishedAt time.Time     `json:"finished_at"`
		}
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, false, fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		if !r.CreatedAt.Before(cutoff) {
			return out, true, nil
		}
		ended := r.FinishedAt
		if ended.IsZero() {
			ended = r.UpdatedAt
		}
		if r.State.Terminal() && ended.Before(cutoff) && !protected[r.ID] {
			out = append(out, victim{kv, r.ID, r.App, r.Env})
		}
	}
	return out, false, nil
}

// deleteRuns deletes victims, several to a transaction; each goes only if
// its run is as it was read.
func (s *Store) deleteRuns(ctx context.Context, victims []victim) (int, error) {
	n := 0
	for len(victims) > 0 {
		batch := victims[:min(len(victims), maxOps/opsPerVictim)]
		victims = victims[len(batch):]
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for _, v := range batch {
			k := s.k
			cmps = append(cmps, unchanged(k.run(v.id), v.kv))
			ops = append(ops,
				clientv3.OpDelete(k.run(v.id)),
				clientv3.OpDelete(k.evSeq(v.id), clientv3.WithPrefix()), // the counter and the events under it
				clientv3.OpDelete(k.refs(v.id), clientv3.WithPrefix()),
				clientv3.OpDelete(k.byApp(v.app)+inv(v.id)),
				clientv3.OpDelete(k.byAppEnv(v.app, v.env)+inv(v.id)))
		}
		resp, err := s.write(ctx, cmps, ops)
		if err != nil {
			return n, err
		}
		if resp.Succeeded {
			n += len(batch)
		}
		// A run changed meanwhile keeps its batch for the next prune.
	}
	return n, nil
}

// protectedRuns are the newest keep runs of each app and environment and
// the runs that deployed what runs now. The app+env index lists each
// group newest first.
func (s *Store) protectedRuns(ctx context.Context, keep int) (map[uint64]bool, error) {
	protected := map[uint64]bool{}
	group, seen := "", 0
	err := s.rangeAll(ctx, s.k.byAppEnvAll(), func(kv *mvccpb.KeyValue) error {
		k := string(kv.Key)
		g := k[:strings.LastIndexByte(k, '/')]
		if g != group {
			group, seen = g, 0
		}
		if seen++; seen <= keep {
			if id, ok := idOfInv(kv.Key); ok {
				protected[id] = true
			}
		}
		return nil
	}, clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	err = s.rangeAll(ctx, s.k.deployedAll(), func(kv *mvccpb.KeyValue) error {
		var d runbook.Deployed
		if json.Unmarshal(kv.Value, &d) == nil && d.RunID != 0 {
			protected[d.RunID] = true
		}
		return nil
	})
	return protected, err
}
