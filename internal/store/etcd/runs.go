package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
)

// CreateRun implements runbook.Store. It writes the run, its index
// entries, its lock and its events in one transaction that holds only if
// the holds and the run lock of its app and env are still absent and the
// id counter is as last seen; otherwise the transaction's Else brings what
// they are, and it decides again (refusing if a lock holds). The first try
// assumes nothing holds the lock and the counter is where this process
// left it, so a free create is one round trip.
func (s *Store) CreateRun(ctx context.Context, r *runbook.Run, evs ...runbook.Event) error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	k := s.k
	watched := []string{k.hold(r.App, r.Env), k.hold("all", r.Env), k.runLock(r.App, r.Env), k.seq()}
	reads := make([]clientv3.Op, len(watched))
	for i, w := range watched {
		reads[i] = clientv3.OpGet(w)
	}
	seen := []*mvccpb.KeyValue{nil, nil, nil, s.lastSeq}
	for {
		if err := s.lockedBy(ctx, r, seen); err != nil {
			return err
		}
		var last uint64
		if kv := seen[3]; kv != nil {
			var err error
			if last, err = strconv.ParseUint(string(kv.Value), 10, 64); err != nil {
				return fmt.Errorf("store: damaged run counter %q", kv.Value)
			}
		}
		id := last + 1
		ops, err := s.createOps(r, id, evs)
		if err != nil {
			return err
		}
		cmps := make([]clientv3.Cmp, len(watched))
		for i, w := range watched {
			cmps[i] = unchanged(w, seen[i])
		}
		resp, err := s.write(ctx, cmps, ops, reads...)
		if errors.Is(err, runbook.ErrDuplicateDelivery) {
			return err
		} else if err != nil {
			return fmt.Errorf("store: create run: %w", err)
		}
		if resp.Succeeded {
			// The counter's new mod revision is the transaction's.
			s.lastSeq = &mvccpb.KeyValue{Key: []byte(k.seq()), Value: []byte(strconv.FormatUint(id, 10)), ModRevision: resp.Header.Revision}
			r.ID, r.Rev = id, 1
			return nil
		}
		for i := range seen {
			seen[i] = kvOf(resp, i)
		}
		s.lastSeq = seen[3]
	}
}

// lockedBy returns a *runbook.LockedError if what CreateRun read shows
// a hold (on the app, then on all apps) or an active run's lock.
func (s *Store) lockedBy(ctx context.Context, r *runbook.Run, seen []*mvccpb.KeyValue) error {
	for i := range 2 {
		if kv := seen[i]; kv != nil {
			var l runbook.Lock
			if err := json.Unmarshal(kv.Value, &l); err != nil {
				return fmt.Errorf("store: decode %s: %w", kv.Key, err)
			}
			return &runbook.LockedError{Lock: l}
		}
	}
	kv := seen[2]
	if kv == nil {
		return nil
	}
	l, ok, err := s.runLockOf(ctx, r.App, r.Env, kv.Value)
	if err != nil {
		return err
	}
	if ok {
		return &runbook.LockedError{Lock: l}
	}
	// A lock whose run is gone holds nothing; the create replaces it.
	return nil
}

// runLockOf describes the lock that run idv (a run_locks value) holds on
// app in env; ok is false if that run is missing.
func (s *Store) runLockOf(ctx context.Context, app, env string, idv []byte) (runbook.Lock, bool, error) {
	id, err := strconv.ParseUint(string(idv), 10, 64)
	if err != nil {
		return runbook.Lock{}, false, fmt.Errorf("store: damaged run lock %q", idv)
	}
	holder, err := s.Run(ctx, id)
	if err == runbook.ErrRunNotFound {
		return runbook.Lock{}, false, nil
	} else if err != nil {
		return runbook.Lock{}, false, err
	}
	return runbook.Lock{
		App: app, Env: env, Holder: holder.Requester, Since: holder.CreatedAt,
		RunID: holder.ID, Reason: fmt.Sprintf("run %s is %s", holder.Ref(), holder.State.Label()),
	}, true, nil
}

// createOps are the writes of a new run with id.
func (s *Store) createOps(r *runbook.Run, id uint64, evs []runbook.Event) ([]clientv3.Op, error) {
	k := s.k
	stored := *r
	stored.ID, stored.Rev = id, 1
	data, err := json.Marshal(&stored)
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{
		clientv3.OpPut(k.seq(), strconv.FormatUint(id, 10)),
		clientv3.OpPut(k.run(id), string(data)),
		clientv3.OpPut(k.byApp(r.App)+inv(id), r.Env),
		clientv3.OpPut(k.byAppEnv(r.App, r.Env)+inv(id), ""),
	}
	if !r.State.Terminal() {
		ops = append(ops, clientv3.OpPut(k.active(id), ""),
			clientv3.OpPut(k.runLock(r.App, r.Env), strconv.FormatUint(id, 10)))
	}
	return s.eventOps(ops, &stored, 0, evs)
}

// eventOps appends to ops the writes of evs after seq on the trail of
// run r, of the run's new last seq and, with the outbox on, of their
// outbox entries.
func (s *Store) eventOps(ops []clientv3.Op, r *runbook.Run, seq uint64, evs []runbook.Event) ([]clientv3.Op, error) {
	if len(evs) == 0 {
		return ops, nil
	}
	if len(ops)+s.opsOfEvents(evs)+1 > maxOps {
		return nil, errTooBig
	}
	id := r.ID
	for i := range evs {
		seq++
		evs[i].Seq = seq // the caller's events learn their place (the audit log shows it)
		ev := evs[i]
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpPut(s.k.events(id)+num(seq), string(data)))
		if s.cfg.Outbox && runbook.ToOutbox(ev.Type) {
			op, err := s.outboxOp(runEntryKey(id, seq), runbook.RunEventID(id, seq), runbook.AuditOf(r, ev))
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
	}
	return append(ops, clientv3.OpPut(s.k.evSeq(id), strconv.FormatUint(seq, 10))), nil
}

// opsOfEvents is how many writes eventOps makes of evs, but the counter.
func (s *Store) opsOfEvents(evs []runbook.Event) int {
	n := len(evs)
	if s.cfg.Outbox {
		for _, ev := range evs {
			if runbook.ToOutbox(ev.Type) {
				n++
			}
		}
	}
	return n
}

func seqOf(kv *mvccpb.KeyValue) (uint64, error) {
	if kv == nil {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(kv.Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: damaged event counter %q", kv.Value)
	}
	return n, nil
}

// SaveRun implements runbook.Store: the run's key must have the mod
// revision it had when its stored Rev was read as r.Rev.
func (s *Store) SaveRun(ctx context.Context, r *runbook.Run, evs ...runbook.Event) error {
	k := s.k
	runK, seqK, lockK := k.run(r.ID), k.evSeq(r.ID), k.runLock(r.App, r.Env)
	reads := []clientv3.Op{clientv3.OpGet(runK), clientv3.OpGet(seqK), clientv3.OpGet(lockK)}
	resp, err := s.read(ctx, reads...)
	for err == nil {
		runKV := kvOf(resp, 0)
		if runKV == nil {
			return runbook.ErrRunNotFound
		}
		var cur struct {
			Rev uint64 `json:"rev"`
		}
		if err := json.Unmarshal(runKV.Value, &cur); err != nil {
			return fmt.Errorf("store: decode run %d: %w", r.ID, err)
		}
		if cur.Rev != r.Rev {
			return runbook.ErrStale
		}
		seq, serr := seqOf(kvOf(resp, 1))
		if serr != nil {
			return serr
		}
		cmps := []clientv3.Cmp{unchanged(runK, runKV), unchanged(seqK, kvOf(resp, 1))}
		ops, oerr := s.saveOps(r, kvOf(resp, 2), &cmps)
		if oerr == nil {
			ops, oerr = s.eventOps(ops, r, seq, evs)
		}
		if oerr != nil {
			return oerr
		}
		resp, err = s.write(ctx, cmps, ops, reads...)
		if err == nil && resp.Succeeded {
			r.Rev++
			return nil
		}
	}
	return fmt.Errorf("store: save run %d: %w", r.ID, err)
}

// saveOps are the writes of a save of r (not its events). A terminal run
// drops out of the active set, releases its run lock (lock, as read, if it
// is r's: cmps then asks that it still is) and records what landed.
func (s *Store) saveOps(r *runbook.Run, lock *mvccpb.KeyValue, cmps *[]clientv3.Cmp) ([]clientv3.Op, error) {
	k := s.k
	stored := *r
	stored.Rev = r.Rev + 1
	data, err := json.Marshal(&stored)
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{clientv3.OpPut(k.run(r.ID), string(data))}
	if !r.State.Terminal() {
		return ops, nil
	}
	ops = append(ops, clientv3.OpDelete(k.active(r.ID)))
	if lock != nil && string(lock.Value) == strconv.FormatUint(r.ID, 10) {
		lockK := k.runLock(r.App, r.Env)
		*cmps = append(*cmps, unchanged(lockK, lock))
		ops = append(ops, clientv3.OpDelete(lockK))
	}
	if r.Action == runbook.ActionDeploy && r.State == runbook.StateSucceeded {
		ops = append(ops, clientv3.OpPut(k.succeeded(r.App, r.Env, r.Version), strconv.FormatUint(r.ID, 10)))
	}
	if v, ok := r.Landed(); ok {
		d, err := json.Marshal(runbook.Deployed{Version: v, RunID: r.ID, At: r.UpdatedAt})
		if err != nil {
			return nil, err
		}
		ops = append(ops, clientv3.OpPut(k.deployed(r.App, r.Env), string(d)))
	}
	return ops, nil
}

// appendChunk bounds the events one AppendEvents transaction writes; a
// step's output (up to 2,500 lines) goes in several, in order.
const appendChunk = 100

// AppendEvents implements runbook.Store.
func (s *Store) AppendEvents(ctx context.Context, id uint64, evs ...runbook.Event) error {
	if len(evs) == 0 {
		_, err := s.Run(ctx, id)
		return err
	}
	chunk := appendChunk
	if s.cfg.Outbox {
		// Each event may come with its outbox entry.
		chunk /= 2
	}
	for len(evs) > 0 {
		n := min(len(evs), chunk)
		if err := s.appendEvents(ctx, id, evs[:n]); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (s *Store) appendEvents(ctx context.Context, id uint64, evs []runbook.Event) error {
	runK, seqK := s.k.run(id), s.k.evSeq(id)
	var opts []clientv3.OpOption
	if !s.cfg.Outbox {
		// The run's fields are needed only for the outbox's entries.
		opts = append(opts, clientv3.WithKeysOnly())
	}
	reads := []clientv3.Op{clientv3.OpGet(runK, opts...), clientv3.OpGet(seqK)}
	resp, err := s.read(ctx, reads...)
	for err == nil {
		runKV := kvOf(resp, 0)
		if runKV == nil {
			return runbook.ErrRunNotFound
		}
		seq, serr := seqOf(kvOf(resp, 1))
		if serr != nil {
			return serr
		}
		r := &runbook.Run{ID: id}
		if s.cfg.Outbox {
			if r, serr = decodeRun(runKV); serr != nil {
				return serr
			}
		}
		ops, oerr := s.eventOps(nil, r, seq, evs)
		if oerr != nil {
			return oerr
		}
		cmps := []clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(runK), "=", runKV.CreateRevision),
			unchanged(seqK, kvOf(resp, 1)),
		}
		resp, err = s.write(ctx, cmps, ops, reads...)
		if err == nil && resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("store: append events to run %d: %w", id, err)
}
