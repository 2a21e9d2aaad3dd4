package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"shipmate/internal/runbook"
)

// Hold implements runbook.Store: it writes the lock only if none exists.
func (s *Store) Hold(ctx context.Context, l runbook.Lock) error {
	k := s.k.hold(l.App, l.Env)
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(k, string(data))}
	if s.cfg.Outbox && l.IncidentRun == 0 {
		op, err := s.outboxOp(lockEntryKey(), "", runbook.AuditOfLock(runbook.AuditLock, l, l.Holder, l.Since))
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	resp, err := s.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)}, ops, clientv3.OpGet(k))
	if err != nil || resp.Succeeded {
		return err
	}
	var cur runbook.Lock
	if kv := kvOf(resp, 0); kv != nil {
		if err := json.Unmarshal(kv.Value, &cur); err != nil {
			return fmt.Errorf("store: decode %s: %w", k, err)
		}
	}
	return &runbook.LockedError{Lock: cur}
}

// Release implements runbook.Store: the lock is read, judged against
// since, and deleted only if unchanged since it was read, in the
// transaction that writes its unlock entry to the outbox (when on).
func (s *Store) Release(ctx context.Context, app, env string, since time.Time) (runbook.Lock, bool, error) {
	k := s.k.hold(app, env)
	resp, err := s.read(ctx, clientv3.OpGet(k))
	for err == nil {
		kv := kvOf(resp, 0)
		if kv == nil {
			return runbook.Lock{}, false, nil
		}
		var l runbook.Lock
		if err := json.Unmarshal(kv.Value, &l); err != nil {
			return runbook.Lock{}, false, fmt.Errorf("store: decode %s: %w", k, err)
		}
		if !since.IsZero() && !l.Since.Equal(since) {
			return l, false, &runbook.LockedError{Lock: l}
		}
		ops := []clientv3.Op{clientv3.OpDelete(k)}
		if s.cfg.Outbox && l.IncidentRun == 0 {
			op, err := s.outboxOp(lockEntryKey(), "", runbook.AuditOfRelease(ctx, l, time.Now().UTC()))
			if err != nil {
				return runbook.Lock{}, false, err
			}
			ops = append(ops, op)
		}
		resp, err = s.write(ctx, []clientv3.Cmp{unchanged(k, kv)}, ops, clientv3.OpGet(k))
		if err == nil && resp.Succeeded {
			return l, true, nil
		}
	}
	return runbook.Lock{}, false, err
}

// HoldOf implements runbook.Store with one read.
func (s *Store) HoldOf(ctx context.Context, app, env string) (runbook.Lock, bool, error) {
	var l runbook.Lock
	k := s.k.hold(app, env)
	resp, err := s.get(ctx, k)
	if err != nil || len(resp.Kvs) == 0 {
		return l, false, err
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &l); err != nil {
		return l, false, fmt.Errorf("store: decode %s: %w", k, err)
	}
	return l, true, nil
}

// RunLockOf implements runbook.Store with one read.
func (s *Store) RunLockOf(ctx context.Context, app, env string) (uint64, bool, error) {
	resp, err := s.get(ctx, s.k.runLock(app, env))
	if err != nil || len(resp.Kvs) == 0 {
		return 0, false, err
	}
	id, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("store: damaged run lock %q", resp.Kvs[0].Value)
	}
	return id, true, nil
}

// Holds implements runbook.Store: the explicit locks alone.
func (s *Store) Holds(ctx context.Context) ([]runbook.Lock, error) {
	var out []runbook.Lock
	err := s.rangeAll(ctx, s.k.holdsAll(), func(kv *mvccpb.KeyValue) error {
		var l runbook.Lock
		if err := json.Unmarshal(kv.Value, &l); err != nil {
			return fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// Locks returns the explicit holds, then the run locks (bot migrate
// compares them).
func (s *Store) Locks(ctx context.Context) ([]runbook.Lock, error) {
	out, err := s.Holds(ctx)
	if err != nil {
		return nil, err
	}
	err = s.rangeAll(ctx, s.k.runLocksAll(), func(kv *mvccpb.KeyValue) error {
		app, env, ok := s.k.appEnvOf(kv.Key)
		if !ok {
			return nil
		}
		l, ok, err := s.runLockOf(ctx, app, env, kv.Value)
		if ok {
			out = append(out, l)
		}
		return err
	})
	return out, err
}
