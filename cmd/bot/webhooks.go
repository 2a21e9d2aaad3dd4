package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"shipmate/internal/adapters/webhook"
	"shipmate/internal/config"
	etcdstore "shipmate/internal/store/etcd"
)

// startWebhooks builds the deliverer of the configured webhooks and gives
// each endpoint new to the store its cursor, at the end of the outbox,
// before the bot changes anything: events from now on reach it. Without
// webhooks it does nothing.
func (m *Main) startWebhooks(c *config.Config) error {
	if len(c.Notify) == 0 {
		return nil
	}
	eps := make([]webhook.Endpoint, len(c.Notify))
	for i, n := range c.Notify {
		eps[i] = webhook.Endpoint{URL: n.URL, Secret: n.Secret, Events: n.Events, Apps: n.Apps, Envs: n.Envs}
	}
	d, err := webhook.New(webhook.Options{
		Outbox: m.store, Endpoints: eps, Source: eventSource(c), Log: m.log, Registerer: m.metrics.Registry(),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		return err
	}
	m.webhooks = d
	return nil
}

// runWebhooks delivers the webhooks' events until ctx ends, when this bot
// is the only one; among replicas the leader does (leadTerm). Without
// webhooks it drops what an earlier configuration left in the outbox.
func (m *Main) runWebhooks(ctx context.Context) {
	if m.webhooks == nil {
		if _, _, err := m.store.PruneOutbox(ctx, nil, time.Time{}); err != nil && ctx.Err() == nil {
			m.log.Warn().Err(err).Msg("webhook: drop the outbox left by an earlier configuration")
		}
		return
	}
	if m.replicas == nil {
		m.webhooks.Run(ctx)
	}
}

// eventSource is the source of the bot's events: the same for every
// replica sharing a store, and across restarts, since receivers dedupe on
// it and the event's id. A bbolt store is one bot's: its host names it.
func eventSource(c *config.Config) string {
	if c.StoreIsEtcd() {
		if cfg, err := etcdstore.ParseURL(c.Store); err == nil {
			return "shipmate/etcd" + cfg.Prefix
		}
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return fmt.Sprintf("shipmate/%s", host)
}
