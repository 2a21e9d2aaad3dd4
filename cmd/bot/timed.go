package main

import (
	"context"
	"errors"
	"time"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
	etcdstore "shipmate/internal/store/etcd"
)

// timedStore is a backend that reports how long each request takes, by
// backend and operation (shipmate_store_request_duration_seconds).
type timedStore struct {
	backend
	name    string
	observe func(backend, op string, d time.Duration)
	// result counts a request, and whether it failed
	// (shipmate_store_errors_total).
	result func(backend, op string, fault bool)
}

var _ backend = (*timedStore)(nil)

func timed[T any](t *timedStore, op string, f func() (T, error)) (T, error) {
	began := time.Now()
	v, err := f()
	t.observe(t.name, op, time.Since(began))
	if t.result != nil {
		t.result(t.name, op, fault(err))
	}
	return v, err
}

// fault reports whether err is a store failing, not a refusal by design:
// a run changed meanwhile, a lock held, a run that is not there, a
// deposed leader's write, a request given up by its caller.
func fault(err error) bool {
	var locked *runbook.LockedError
	switch {
	case err == nil, errors.Is(err, runbook.ErrStale), errors.Is(err, runbook.ErrRunNotFound),
		errors.As(err, &locked), errors.Is(err, etcdstore.ErrDeposed), errors.Is(err, context.Canceled):
		return false
	}
	return true
}

func timed0(t *timedStore, op string, f func() error) error {
	_, err := timed(t, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (t *timedStore) CreateRun(ctx context.Context, r *runbook.Run, evs ...runbook.Event) error {
	return timed0(t, "create_run", func() error { return t.backend.CreateRun(ctx, r, evs...) })
}

func (t *timedStore) SaveRun(ctx context.Context, r *runbook.Run, evs ...runbook.Event) error {
	return timed0(t, "save_run", func() error { return t.backend.SaveRun(ctx, r, evs...) })
}

func (t *timedStore) AppendEvents(ctx context.Context, id uint64, evs ...runbook.Event) error {
	return timed0(t, "append_events", func() error { return t.backend.AppendEvents(ctx, id, evs...) })
}

func (t *timedStore) Run(ctx context.Context, id uint64) (*runbook.Run, error) {
	return timed(t, "run", func() (*runbook.Run, error) { return t.backend.Run(ctx, id) })
}

func (t *timedStore) ActiveRuns(ctx context.Context) ([]*runbook.Run, error) {
	return timed(t, "active_runs", func() ([]*runbook.Run, error) { return t.backend.ActiveRuns(ctx) })
}

func (t *timedStore) NewestActive(ctx context.Context, limit int) ([]*runbook.Run, int, error) {
	var total int
	runs, err := timed(t, "newest_active", func() (runs []*runbook.Run, err error) {
		runs, total, err = t.backend.NewestActive(ctx, limit)
		return runs, err
	})
	return runs, total, err
}

func (t *timedStore) Events(ctx context.Context, id uint64) ([]runbook.Event, error) {
	return timed(t, "events", func() ([]runbook.Event, error) { return t.backend.Events(ctx, id) })
}

func (t *timedStore) History(ctx context.Context, app, env string, limit int) ([]*runbook.Run, error) {
	return timed(t, "history", func() ([]*runbook.Run, error) { return t.backend.History(ctx, app, env, limit) })
}

func (t *timedStore) HistorySince(ctx context.Context, app, env string, since time.Time, limit int) ([]*runbook.Run, error) {
	return timed(t, "history", func() ([]*runbook.Run, error) { return t.backend.HistorySince(ctx, app, env, since, limit) })
}

func (t *timedStore) Deployed(ctx context.Context, app, env string) (runbook.Deployed, bool, error) {
	var ok bool
	d, err := timed(t, "deployed", func() (d runbook.Deployed, err error) {
		d, ok, err = t.backend.Deployed(ctx, app, env)
		return d, err
	})
	return d, ok, err
}

func (t *timedStore) Succeeded(ctx context.Context, app, env, version string) (bool, error) {
	return timed(t, "succeeded", func() (bool, error) { return t.backend.Succeeded(ctx, app, env, version) })
}

func (t *timedStore) Hold(ctx context.Context, l runbook.Lock) error {
	return timed0(t, "hold", func() error { return t.backend.Hold(ctx, l) })
}

func (t *timedStore) Release(ctx context.Context, app, env string, since time.Time) (runbook.Lock, bool, error) {
	var ok bool
	l, err := timed(t, "release", func() (l runbook.Lock, err error) {
		l, ok, err = t.backend.Release(ctx, app, env, since)
		return l, err
	})
	return l, ok, err
}

func (t *timedStore) HoldOf(ctx context.Context, app, env string) (runbook.Lock, bool, error) {
	var ok bool
	l, err := timed(t, "hold_of", func() (l runbook.Lock, err error) {
		l, ok, err = t.backend.HoldOf(ctx, app, env)
		return l, err
	})
	return l, ok, err
}

func (t *timedStore) RunLockOf(ctx context.Context, app, env string) (uint64, bool, error) {
	var ok bool
	id, err := timed(t, "run_lock_of", func() (id uint64, err error) {
		id, ok, err = t.backend.RunLockOf(ctx, app, env)
		return id, err
	})
	return id, ok, err
}

func (t *timedStore) Holds(ctx context.Context) ([]runbook.Lock, error) {
	return timed(t, "holds", func() ([]runbook.Lock, error) { return t.backend.Holds(ctx) })
}

func (t *timedStore) Recent(ctx context.Context, limit int) ([]*runbook.Run, error) {
	return timed(t, "recent", func() ([]*runbook.Run, error) { return t.backend.Recent(ctx, limit) })
}

func (t *timedStore) RunsPage(ctx context.Context, q runbook.RunPage) ([]*runbook.Run, error) {
	return timed(t, "runs_page", func() ([]*runbook.Run, error) { return t.backend.RunsPage(ctx, q) })
}

func (t *timedStore) Record(ctx context.Context, id uint64) (*runbook.Record, error) {
	return timed(t, "record", func() (*runbook.Record, error) { return t.backend.Record(ctx, id) })
}

func (t *timedStore) Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	return timed(t, "once", func() (bool, error) { return t.backend.Once(ctx, key, ttl, now) })
}

// Seen reads whether key is remembered, on a backend whose writes claim
// deliveries (see ClaimsDeliveries; the handler asks only then).
func (t *timedStore) Seen(ctx context.Context, key string, now time.Time) (bool, error) {
	c, ok := t.backend.(chat.DeliveryClaimer)
	if !ok {
		return false, errors.New("store: this backend does not claim deliveries")
	}
	return timed(t, "seen", func() (bool, error) { return c.Seen(ctx, key, now) })
}

// ClaimsDeliveries reports whether the backend's writes claim the
// delivery their context carries.
func (t *timedStore) ClaimsDeliveries() bool {
	c, ok := t.backend.(chat.DeliveryClaimer)
	return ok && c.ClaimsDeliveries()
}

func (t *timedStore) Forget(ctx context.Context, key string) error {
	return timed0(t, "forget", func() error { return t.backend.Forget(ctx, key) })
}

func (t *timedStore) RunRef(ctx context.Context, id uint64, name string) (string, bool, error) {
	var ok bool
	v, err := timed(t, "run_ref", func() (v string, err error) {
		v, ok, err = t.backend.RunRef(ctx, id, name)
		return v, err
	})
	return v, ok, err
}

func (t *timedStore) SetRunRef(ctx context.Context, id uint64, name, value string) error {
	return timed0(t, "set_run_ref", func() error { return t.backend.SetRunRef(ctx, id, name, value) })
}
