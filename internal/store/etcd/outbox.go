package etcdstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
)

// The outbox's order is the order of etcd's revisions: an entry is
// written in the transaction of its change, so its mod revision is that
// change's place in etcd's one history, whichever replica made it, and
// no counter that every change would have to compare is needed. An entry
// is never rewritten. A position is the entry's mod revision in 20 digits,
// "/" and its key under p/outbox/, so positions sort as strings in the
// order the entries were committed (by key within one transaction).

var _ runbook.Outbox = (*Store)(nil)

// outboxRecord is an outbox entry as stored; a lock's has no ID, which is
// its event type and its revision.
type outboxRecord struct {
	ID    string        `json:"id,omitempty"`
	Audit runbook.Audit `json:"audit"`
}

// endPos sorts after every position of its revision: keys under
// p/outbox/ start with "lock/" or "run/".
const endPos = "~"

func runEntryKey(id, seq uint64) string { return "run/" + num(id) + "/" + num(seq) }

// lockEntryKey is a key of its own for a lock's entry: two holds of one
// app may be placed at the same instant.
func lockEntryKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "lock/" + hex.EncodeToString(b)
}

// outboxOp is the write of the entry a, under key (below p/outbox/).
func (s *Store) outboxOp(key, id string, a runbook.Audit) (clientv3.Op, error) {
	data, err := json.Marshal(outboxRecord{ID: id, Audit: a})
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(s.k.outbox()+key, string(data)), nil
}

func posOf(rev int64, key string) string { return num(uint64(rev)) + "/" + key }

// withOutboxHead adds to then, once, the write of the outbox's head key
// when then writes outbox entries: its revision is the newest entry's and
// its value the greatest key among that revision's entries. A poll that
// finds nothing new then reads one key, where etcd would read the whole
// outbox to filter it by revision.
func (s *Store) withOutboxHead(then []clientv3.Op) ([]clientv3.Op, bool) {
	if !s.cfg.Outbox {
		return then, false // no entries are written
	}
	greatest := ""
	for _, op := range then {
		if k, ok := strings.CutPrefix(string(op.KeyBytes()), s.k.outbox()); ok && op.IsPut() && k > greatest {
			greatest = k
		}
	}
	if greatest == "" {
		return then, false
	}
	return append(then[:len(then):len(then)], clientv3.OpPut(s.k.outboxHead(), greatest)), true
}

// outboxPast reports whether the outbox may hold an entry after pos:
// without a head key (entries written before there was one) it may.
func (s *Store) outboxPast(ctx context.Context, pos string) (bool, error) {
	resp, err := s.get(ctx, s.k.outboxHead())
	if err != nil || len(resp.Kvs) == 0 {
		return true, err
	}
	head := resp.Kvs[0]
	return pos < posOf(head.ModRevision, string(head.Value)), nil
}

// splitPos reads a position back into its revision; "" is before all.
func splitPos(pos string) (int64, error) {
	if pos == "" {
		return 0, nil
	}
	r, _, _ := strings.Cut(pos, "/")
	n, err := strconv.ParseInt(r, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: bad outbox position %q", pos)
	}
	return n, nil
}

// entryOf decodes an outbox key.
func (s *Store) entryOf(kv *mvccpb.KeyValue) (runbook.OutboxEntry, error) {
	key := strings.TrimPrefix(string(kv.Key), s.k.outbox())
	var rec outboxRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return runbook.OutboxEntry{}, fmt.Errorf("store: decode %s: %w", kv.Key, err)
	}
	if rec.ID == "" {
		rec.ID = rec.Audit.Event + "-" + strconv.FormatInt(kv.ModRevision, 10)
	}
	return runbook.OutboxEntry{Pos: posOf(kv.ModRevision, key), ID: rec.ID, Audit: rec.Audit}, nil
}

// OutboxAfter implements runbook.Outbox. etcd sorts by mod revision but
// in no set order within one, so when the limit cuts a response the
// entries of its last revision are read again whole on the next call.
func (s *Store) OutboxAfter(ctx context.Context, pos string, limit int) ([]runbook.OutboxEntry, error) {
	rev, err := splitPos(pos)
	if err != nil {
		return nil, err
	}
	if more, err := s.outboxPast(ctx, pos); err != nil || !more {
		return nil, err
	}
	for {
		kvs, cut, err := s.outboxFrom(ctx, rev, limit)
		if err != nil {
			return nil, err
		}
		out := make([]runbook.OutboxEntry, 0, len(kvs))
		for _, kv := range kvs {
			e, err := s.entryOf(kv)
			if err != nil {
				return nil, err
			}
			if e.Pos > pos {
				out = append(out, e)
			}
		}
		if len(out) > 0 || !cut {
			slices.SortFunc(out, func(a, b runbook.OutboxEntry) int { return strings.Compare(a.Pos, b.Pos) })
			return out, nil
		}
		// The page held only the cursor's own revision, all of it read
		// before: go on after it.
		rev = kvs[len(kvs)-1].ModRevision + 1
	}
}

// outboxFrom reads up to limit entries of revision rev and later, oldest
// first, in whole revisions (more than limit when one revision has more),
// and reports whether the limit cut the range.
func (s *Store) outboxFrom(ctx context.Context, rev int64, limit int) ([]*mvccpb.KeyValue, bool, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend),
		clientv3.WithLimit(int64(limit))}
	if rev > 0 {
		opts = append(opts, clientv3.WithMinModRev(rev))
	}
	resp, err := s.get(ctx, s.k.outbox(), opts...)
	if err != nil {
		return nil, false, err
	}
	if !resp.More || len(resp.Kvs) == 0 {
		return resp.Kvs, false, nil
	}
	kvs := resp.Kvs
	last := kvs[len(kvs)-1].ModRevision
	if cut := slices.IndexFunc(kvs, func(kv *mvccpb.KeyValue) bool { return kv.ModRevision == last }); cut > 0 {
		return kvs[:cut], true, nil
	}
	// One transaction's entries, more than limit: all of them.
	whole, err := s.get(ctx, s.k.outbox(), clientv3.WithPrefix(), clientv3.WithMinModRev(last), clientv3.WithMaxModRev(last))
	if err != nil {
		return nil, false, err
	}
	return whole.Kvs, true, nil
}

// OutboxBacklog implements runbook.Outbox: it counts the entries of later
// revisions than pos's. (etcd counts a range before it filters it by
// revision, so the keys are read.)
func (s *Store) OutboxBacklog(ctx context.Context, pos string) (int, error) {
	rev, err := splitPos(pos)
	if err != nil {
		return 0, err
	}
	if more, err := s.outboxPast(ctx, pos); err != nil || !more {
		return 0, err
	}
	resp, err := s.get(ctx, s.k.outbox(), clientv3.WithPrefix(), clientv3.WithMinModRev(rev+1), clientv3.WithKeysOnly())
	if err != nil {
		return 0, err
	}
	return len(resp.Kvs), nil
}

// Cursor implements runbook.Outbox.
func (s *Store) Cursor(ctx context.Context, name string) (string, bool, error) {
	resp, err := s.get(ctx, s.k.cursor(name))
	if err != nil || len(resp.Kvs) == 0 {
		return "", false, err
	}
	return string(resp.Kvs[0].Value), true, nil
}

// StartCursor implements runbook.Outbox. The newest entry is at most at
// the revision etcd is at when asked, so the cursor is put after all of
// that revision's entries.
func (s *Store) StartCursor(ctx context.Context, name string) (string, error) {
	k := s.k.cursor(name)
	resp, err := s.get(ctx, k)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) > 0 {
		return string(resp.Kvs[0].Value), nil
	}
	end := posOf(resp.Header.Revision, endPos)
	txn, err := s.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)},
		[]clientv3.Op{clientv3.OpPut(k, end)}, clientv3.OpGet(k))
	if err != nil {
		return "", err
	}
	if kv := kvOf(txn, 0); !txn.Succeeded && kv != nil {
		// Another replica started it meanwhile.
		return string(kv.Value), nil
	}
	return end, nil
}

// SetCursor implements runbook.Outbox.
func (s *Store) SetCursor(ctx context.Context, name, pos string) error {
	if _, err := splitPos(pos); err != nil {
		return err
	}
	_, err := s.write(ctx, nil, []clientv3.Op{clientv3.OpPut(s.k.cursor(name), pos)})
	return err
}

// PruneOutbox implements runbook.Outbox.
func (s *Store) PruneOutbox(ctx context.Context, keep []string, cutoff time.Time) (dropped, undelivered int, err error) {
	upto, err := s.pruneCursors(ctx, keep)
	if err != nil {
		return 0, 0, err
	}
	var victims []string
	err = s.rangeAll(ctx, s.k.outbox(), func(kv *mvccpb.KeyValue) error {
		e, err := s.entryOf(kv)
		if err != nil {
			return err
		}
		if e.Pos > upto {
			if cutoff.IsZero() || !e.Audit.At.Before(cutoff) {
				return nil
			}
			undelivered++
		}
		victims = append(victims, string(kv.Key))
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return len(victims), undelivered, s.deleteKeys(ctx, victims)
}

// pruneCursors drops the cursors not in keep and returns the lowest
// position of the kept ones.
func (s *Store) pruneCursors(ctx context.Context, keep []string) (string, error) {
	upto := "\xff"
	var stale []string
	err := s.rangeAll(ctx, s.k.cursorsAll(), func(kv *mvccpb.KeyValue) error {
		if !slices.ContainsFunc(keep, func(name string) bool { return s.k.cursor(name) == string(kv.Key) }) {
			stale = append(stale, string(kv.Key))
		} else {
			upto = min(upto, string(kv.Value))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return upto, s.deleteKeys(ctx, stale)
}

// deleteKeys deletes keys, maxOps in a transaction.
func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), maxOps)
		ops := make([]clientv3.Op, n)
		for i, k := range keys[:n] {
			ops[i] = clientv3.OpDelete(k)
		}
		if _, err := s.write(ctx, nil, ops); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
