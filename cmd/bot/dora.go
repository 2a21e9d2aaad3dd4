package main

import (
	"context"
	"time"

	"shipmate/internal/commands"
)

// doraEvery is how often the leader computes the DORA keys it publishes.
const doraEvery = 5 * time.Minute

// publishDORA publishes the DORA keys of every app in every environment,
// over the default window of /deploy stats, at once and then every
// doraEvery, until ctx ends. Only the leader computes them (they are the
// same on every replica): the others publish none.
func (m *Main) publishDORA(ctx context.Context) {
	t := time.NewTicker(doraEvery)
	defer t.Stop()
	for {
		m.refreshDORA(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshDORA computes and publishes the DORA keys once.
func (m *Main) refreshDORA(ctx context.Context) {
	if !m.engine.Leading() {
		m.metrics.ClearDORA()
		return
	}
	p := m.engine.Policy()
	for _, app := range p.AppNames() {
		for _, env := range p.Envs {
			d, err := m.engine.DORA(ctx, app, env.Name, commands.DefaultStatsDays)
			if err != nil {
				if ctx.Err() == nil {
					m.log.Warn().Err(err).Str("app", app).Str("env", env.Name).Msg("metrics: compute the DORA keys")
				}
				continue
			}
			m.metrics.SetDORA(d)
		}
	}
}
