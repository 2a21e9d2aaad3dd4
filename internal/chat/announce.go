package chat

import (
	"context"
	"errors"
	"maps"

	"shipmate/internal/runbook"
)

// Announce says where the summaries of runs go: a channel per
// environment, and per app a channel per environment that overrides it.
// A run whose app and environment have no channel is not announced.
type Announce struct {
	Envs map[string]string            // environment → channel
	Apps map[string]map[string]string // app → environment → channel
}

// Channel is where the runs of app in env are announced ("": nowhere).
func (a Announce) Channel(app, env string) string {
	if ch := a.Apps[app][env]; ch != "" {
		return ch
	}
	return a.Envs[env]
}

// withDefault is a with channel for env when a names none for it: the
// single announce channel of older configurations, for the last
// environment.
func (a Announce) withDefault(env, channel string) Announce {
	if env == "" || channel == "" || a.Envs[env] != "" {
		return a
	}
	envs := maps.Clone(a.Envs)
	if envs == nil {
		envs = map[string]string{}
	}
	envs[env] = channel
	a.Envs = envs
	return a
}

// DirectSender is implemented by the Senders of platforms with direct
// messages.
type DirectSender interface {
	// Direct sends d to user alone.
	Direct(ctx context.Context, user string, d Drawing) error
}

// ErrNoDirect is returned by Direct on a platform without direct
// messages.
var ErrNoDirect = errors.New("this chat has no direct messages")

var _ runbook.DirectMessenger = (*Chat)(nil)

// Direct implements runbook.DirectMessenger: it sends m to user alone,
// drawn as a note (with a link to the message m relates to), with a few
// tries.
func (c *Chat) Direct(ctx context.Context, user string, m runbook.Message) error {
	if c.isClosed() {
		return c.errorf("%w", ErrClosed)
	}
	ds, ok := c.snd.(DirectSender)
	if !ok {
		return c.errorf("%w", ErrNoDirect)
	}
	d := c.r.Note(ctx, "", m)
	if err := c.Try(ctx, func(ctx context.Context) error { return ds.Direct(ctx, user, d) }); err != nil {
		return c.errorf("direct message to %s: %w", user, err)
	}
	return nil
}
