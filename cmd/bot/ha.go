package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"shipmate/internal/adaptercfg"
	"shipmate/internal/config"
	etcdstore "shipmate/internal/store/etcd"
)

// replicas is what a bot on etcd adds: its name among the replicas, the
// leadership it campaigns for, and whether it leads now.
type replicas struct {
	st      *etcdstore.Store
	name    string
	lease   time.Duration
	leading atomic.Bool
}

// openStore opens the configured store: etcd, where the bot is one of
// several replicas, or the bbolt file.
func (m *Main) openStore(s *adaptercfg.Settings) (backend, error) {
	if !isEtcd(s.Store) {
		st, err := openBbolt(s.Store, len(s.Notify) > 0)
		if err != nil {
			return nil, err
		}
		return &timedStore{backend: st, name: "bbolt", observe: m.metrics.StoreRequest, result: m.health.StoreResult}, nil
	}
	st, err := openEtcd(s.Config)
	if err != nil {
		return nil, err
	}
	m.replicas = &replicas{st: st, name: replicaName(), lease: s.LeaderLease}
	return &timedStore{backend: st, name: "etcd", observe: m.metrics.StoreRequest, result: m.health.StoreResult}, nil
}

// openEtcd connects to the configured etcd, over TLS with store_tls, with
// the credentials the environment gives (SHIPMATE_ETCD_USERNAME and
// SHIPMATE_ETCD_PASSWORD).
func openEtcd(c *config.Config) (*etcdstore.Store, error) {
	cfg, err := etcdstore.ParseURL(c.Store)
	if err != nil {
		return nil, err
	}
	if t := c.StoreTLS; t != nil {
		if cfg.TLS, err = etcdstore.TLSFiles(t.CA, t.Cert, t.Key); err != nil {
			return nil, fmt.Errorf("store_tls: %w", err)
		}
	}
	cfg.Username, cfg.Password = c.StoreUsername, c.StorePassword
	cfg.Outbox = len(c.Notify) > 0
	return etcdstore.Open(context.Background(), cfg)
}

// replicaName names this bot among the replicas: its host (a pod's name)
// and process.
func replicaName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "shipmate"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// campaign makes this replica lead whenever it is elected, until ctx
// ends: while it leads, the engine works under a context that fences its
// writes with the leadership, and ends with it.
func (m *Main) campaign(ctx context.Context) {
	r := m.replicas
	wait := chatRetryFirst
	for ctx.Err() == nil {
		l, err := r.st.Campaign(ctx, r.name, r.lease)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Error().Err(err).Dur("retry_in", wait).Msg("leader election: cannot campaign; retrying")
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			wait = min(2*wait, chatRetryMax)
			continue
		}
		wait = chatRetryFirst
		m.log.Info().Str("replica", r.name).Msg("leading: this replica runs steps and timers")
		r.leading.Store(true)
		m.metrics.SetLeader(true)
		m.leadTerm(ctx, l)
		if ctx.Err() == nil {
			m.log.Warn().Str("replica", r.name).Msg("no longer leading: the lease was lost; campaigning again")
		}
	}
}

// leadTerm runs the engine as the leader for the term l, under a context
// that fences its writes and ends with the term (or ctx), then resigns.
func (m *Main) leadTerm(ctx context.Context, l *etcdstore.Leadership) {
	lctx, cancel := context.WithCancel(l.Fence(ctx))
	defer cancel()
	go func() {
		select {
		case <-l.Done():
		case <-lctx.Done():
		}
		cancel()
	}()
	// The leader alone delivers the webhooks' events, under the same
	// fenced context: its cursors' writes are refused once it is deposed.
	var delivering sync.WaitGroup
	if m.webhooks != nil {
		delivering.Go(func() { m.webhooks.Run(lctx) })
	}
	if err := m.engine.Lead(lctx); err != nil {
		m.log.Error().Err(err).Msg("lead")
	}
	cancel()
	delivering.Wait()
	m.replicas.leading.Store(false)
	m.metrics.SetLeader(false)
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	_ = l.Resign(rctx)
}

// watch tells the engine of every run another replica (or this one)
// changed, until ctx ends.
func (m *Main) watch(ctx context.Context) {
	for id := range m.replicas.st.Changes(ctx) {
		m.engine.Changed(ctx, id)
	}
}

// role is what /readyz says of this replica's part: on etcd, whether it
// leads and which replica does.
func (m *Main) role(ctx context.Context) string {
	r := m.replicas
	if r == nil {
		return ""
	}
	if r.leading.Load() {
		return "leading: " + r.name + "\n"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	leader, err := r.st.Leader(ctx)
	switch {
	case err != nil:
		return "following; the leader is unknown: " + err.Error() + "\n"
	case leader == "":
		return "following; no replica leads yet\n"
	}
	return "following " + leader + " as " + r.name + "\n"
}
