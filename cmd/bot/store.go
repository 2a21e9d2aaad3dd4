package main

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"shipmate/internal/adapters/web"
	"shipmate/internal/chat"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// backend is what the bot needs of its store: the bbolt file (one bot) or
// etcd (replicas sharing it).
type backend interface {
	runbook.Store
	web.Runs
	chat.Deduper
	chat.RefStore
	store.Pruner
	runbook.Outbox
	// Ping reports whether the store answers (for /readyz).
	Ping() error
	// Where says where the store is (for the log).
	Where() string
	Close() error
}

var (
	_ backend = (*store.Store)(nil)
)

// isEtcd reports whether the configured store is an etcd URL.
func isEtcd(where string) bool { return strings.HasPrefix(where, "etcd://") }

// stepsDir is where exec steps keep their output and status, so that a
// restarted bot follows them to their end: next to the bbolt file. On etcd
// the step may be followed by another replica, on another machine, which
// cannot: no folder, and a step cut off by a change of leader ends as
// interrupted.
func stepsDir(where string) string {
	if isEtcd(where) {
		return ""
	}
	return filepath.Join(filepath.Dir(where), "steps")
}

// openBbolt opens the embedded store; with outbox its changes also go to
// the outbox, for the webhooks.
func openBbolt(path string, outbox bool) (backend, error) {
	return store.Open(path, store.Options{Timeout: 2 * time.Second, Outbox: outbox})
}

// runUpkeep drops what the store no longer needs until ctx ends.
func (m *Main) runUpkeep(ctx context.Context) {
	store.RunUpkeep(ctx, m.store, store.Upkeep{Every: pruneEvery, Retention: m.cfg.Retention, Keep: keepPerEnv, Log: m.log})
}
