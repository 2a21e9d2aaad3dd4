// Package chat is the platform-neutral half of a chat adapter, written
// once for every platform: a pacer per message that coalesces updates and
// waits out rate limits, run summaries in an announce channel kept across
// restarts, delivery dedupe, checklist selections judged against the view
// the user saw, and the texts and questions chats answer with. A platform
// supplies only its wire: a Sender and a Renderer.
package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/runbook"
)

// Options configure a Chat.
type Options struct {
	// Platform names the chat in logs and errors ("slack").
	Platform string
	Sender   Sender
	Renderer Renderer
	// Interval is the least time between two edits of one message
	// (default 1s).
	Interval time.Duration
	// PaceOutput makes the replies showing a message's output wait for
	// Interval too, sharing it with the edits: on Slack they go to the
	// message's own channel, whose posts are limited to about one a
	// second. Without it they wait only for rate limits (Discord's
	// threads are channels of their own).
	PaceOutput bool
	// AnnounceChannel receives a summary of each run in AnnounceEnv,
	// edited as the run moves on, unless Announce names another channel
	// for that environment; empty: none.
	AnnounceChannel, AnnounceEnv string
	// Announce routes the summaries of runs by environment and app.
	Announce Announce
	// Refs remembers where each run's summary is, so that a restarted bot
	// goes on editing it (nil: in memory only).
	Refs RefStore
	// Clock tells the time and wakes the workers (default: the real one).
	Clock Clock
	// CloseWait bounds how long Close goes on sending what is queued
	// (default 10s).
	CloseWait time.Duration
	Log       zerolog.Logger
}

// Chat is a platform's runbook.Chat and runbook.Threader. Post and Reply
// are synchronous, with a few retries; Update returns at once and the edit
// is sent in the background: the updates of one message are coalesced
// (the latest content wins, sent at most once per Interval), and its new
// output lines go to its thread. Rate limits are waited out and transient
// errors retried, so the last content of every message gets there. Runs
// in the announced environment also get a summary in the announce
// channel, edited with them. Chat is safe for concurrent use.
type Chat struct {
	opt   Options
	snd   Sender
	r     Renderer
	clock Clock
	log   zerolog.Logger

	ctx     context.Context // ends once Close is done: calls in flight stop
	cancel  context.CancelFunc
	closing chan struct{} // closed by Close: workers stop pacing
	wg      sync.WaitGroup

	mu        sync.Mutex
	slots     map[key]*slot
	summaries map[uint64]key // run id → its summary in the announce channel
	refs      *summaries     // the summaries across restarts
	active    int            // workers running
	idle      chan struct{}  // closed while no worker runs
	closed    bool
	deadline  time.Time // set by Close: what cannot be sent by then is dropped
	swept     time.Time // when idle slots were last dropped
}

var (
	_ runbook.Chat     = (*Chat)(nil)
	_ runbook.Threader = (*Chat)(nil)
)

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("chat closed")

// Defaults.
const (
	defaultInterval  = time.Second
	defaultCloseWait = 10 * time.Second
)

// New returns a chat sending through opt.Sender. Call Close when done: it
// sends what is still queued.
func New(opt Options) *Chat {
	if opt.Interval <= 0 {
		opt.Interval = defaultInterval
	}
	if opt.CloseWait <= 0 {
		opt.CloseWait = defaultCloseWait
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	opt.Announce = opt.Announce.withDefault(opt.AnnounceEnv, opt.AnnounceChannel)
	ctx, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{})
	close(idle)
	return &Chat{opt: opt, snd: opt.Sender, r: opt.Renderer, clock: opt.Clock, log: opt.Log,
		ctx: ctx, cancel: cancel, closing: make(chan struct{}),
		slots: map[key]*slot{}, summaries: map[uint64]key{},
		refs: newSummaries(opt.Refs, opt.Platform+".summary"), idle: idle}
}

// errorf prefixes an error with the platform.
func (c *Chat) errorf(format string, a ...any) error {
	return fmt.Errorf(c.opt.Platform+": "+format, a...)
}

// Post implements runbook.Chat: it posts m to channel and returns the
// message's id. A run in the announced environment also gets its summary
// in the announce channel.
func (c *Chat) Post(ctx context.Context, channel string, m runbook.Message) (string, error) {
	if c.isClosed() {
		return "", c.errorf("%w", ErrClosed)
	}
	d := c.r.Message(m)
	id, err := c.post(ctx, channel, d)
	if err != nil {
		return "", c.errorf("post to %s: %w", channel, err)
	}
	m = cloneMessage(m)
	c.mu.Lock()
	s := c.slotFor(key{channel, id}, m.RunID)
	s.sent = d.Key()
	c.takeLog(s, m.NewLog) // output already there goes to the thread
	if len(s.lines) > 0 {
		c.startWorker(s)
	}
	c.mu.Unlock()
	if to, ok := c.announces(channel, m); ok {
		c.announce(ctx, to, m)
	}
	return id, nil
}

// post posts d to channel, with a few tries, and returns its id.
func (c *Chat) post(ctx context.Context, channel string, d Drawing) (string, error) {
	var id string
	err := c.Try(ctx, func(ctx context.Context) error {
		var err error
		id, err = c.snd.Post(ctx, channel, d)
		return err
	})
	return id, err
}

// Update implements runbook.Chat. It queues m as the message's new content
// (and its new output lines for the thread) and returns at once; the run's
// announce summary, if any, is edited too.
func (c *Chat) Update(ctx context.Context, channel, ref string, m runbook.Message) error {
	m = cloneMessage(m)
	if to, ok := c.announces(channel, m); ok {
		c.restoreSummary(ctx, m.RunID, to)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.errorf("%w", ErrClosed)
	}
	c.sweep()
	s := c.slotFor(key{channel, ref}, m.RunID)
	if s.gone {
		return nil
	}
	c.takeLog(s, m.NewLog)
	c.queue(s, m)
	if k, ok := c.summaries[m.RunID]; ok && m.RunID != 0 {
		if ss := c.slots[k]; ss != nil && !ss.gone {
			c.queue(ss, m)
		}
	}
	return nil
}

// Reply implements runbook.Threader: it posts m in the thread of the
// message ref.
func (c *Chat) Reply(ctx context.Context, channel, ref string, m runbook.Message) error {
	if c.isClosed() {
		return c.errorf("%w", ErrClosed)
	}
	d := c.r.Note(ctx, channel, m)
	c.mu.Lock()
	to := c.slotFor(key{channel, ref}, m.RunID).target
	c.mu.Unlock()
	err := c.Try(ctx, func(ctx context.Context) error { return c.snd.Reply(ctx, to, d) })
	if err != nil {
		return c.errorf("reply in the thread of %s in %s: %w", ref, channel, err)
	}
	return nil
}

// announces reports whether m, posted to channel, is summarised in an
// announce channel, and in which: a run's message (not a notice) whose
// app and environment have one, other than the channel itself.
func (c *Chat) announces(channel string, m runbook.Message) (string, bool) {
	to := c.opt.Announce.Channel(m.App, m.Env)
	return to, to != "" && channel != to && m.RunID != 0 && m.Status != ""
}

// announce posts m's summary to channel, or queues its edit when the run
// has one already. A failure is logged: the run goes on.
func (c *Chat) announce(ctx context.Context, channel string, m runbook.Message) {
	c.restoreSummary(ctx, m.RunID, channel)
	c.mu.Lock()
	if k, ok := c.summaries[m.RunID]; ok {
		if s := c.slots[k]; s != nil {
			c.queue(s, m)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	d := c.r.Summary(m)
	id, err := c.post(ctx, channel, d)
	if err != nil {
		c.log.Warn().Str("channel", channel).Uint64("run", m.RunID).Str("error", err.Error()).
			Msg(c.opt.Platform + ": announce a run")
		return
	}
	if err := c.refs.Remember(ctx, m.RunID, channel, id); err != nil {
		c.log.Warn().Err(err).Uint64("run", m.RunID).Msg(c.opt.Platform + ": remember a run's summary")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slotFor(key{channel, id}, m.RunID)
	s.summary = true
	s.sent = d.Key()
	c.summaries[m.RunID] = s.key
}

// restoreSummary picks up the summary an earlier process posted for run
// id, once per run, so that a restarted bot edits it.
func (c *Chat) restoreSummary(ctx context.Context, id uint64, channel string) {
	c.mu.Lock()
	_, known := c.summaries[id]
	c.mu.Unlock()
	if known {
		return
	}
	ref, ok, err := c.refs.Restore(ctx, id, channel)
	if err != nil {
		c.log.Warn().Err(err).Uint64("run", id).Msg(c.opt.Platform + ": read a run's summary")
	}
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.summaries[id]; !known {
		s := c.slotFor(key{channel, ref}, id)
		s.summary = true
		c.summaries[id] = s.key
	}
}

// Flush waits until every queued edit and output line is sent (or given
// up), or ctx ends.
func (c *Chat) Flush(ctx context.Context) error {
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close sends what is still queued, without waiting out the pacing
// interval, for up to CloseWait; what must wait out a rate limit or a
// backoff beyond that is dropped, and logged. Later calls fail.
func (c *Chat) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.deadline = c.clock.Now().Add(c.opt.CloseWait)
	idle := c.idle
	close(c.closing)
	c.mu.Unlock()
	select {
	case <-idle:
	case <-c.clock.After(c.opt.CloseWait):
	}
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	dropped := 0
	for _, s := range c.slots {
		if s.pending != nil || len(s.lines) > 0 {
			dropped++
		}
	}
	c.mu.Unlock()
	if dropped > 0 {
		c.log.Warn().Int("messages", dropped).Msg(c.opt.Platform + ": closed with message edits not sent")
	}
}

func (c *Chat) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// cloneMessage copies m's slices, which the worker renders later.
func cloneMessage(m runbook.Message) runbook.Message {
	m.Fields = slices.Clone(m.Fields)
	m.Items = slices.Clone(m.Items)
	m.Buttons = slices.Clone(m.Buttons)
	m.Log = slices.Clone(m.Log)
	m.NewLog = slices.Clone(m.NewLog)
	if m.Related != nil {
		r := *m.Related
		m.Related = &r
	}
	return m
}
