package chat

import (
	"context"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/runbook"
)

// Pacing and retry limits.
const (
	// maxFailures is how many transient failures in a row a message's
	// background sends survive before the content that failed is dropped.
	maxFailures = 5
	maxBackoff  = 30 * time.Second
	// syncAttempts bounds the tries of the calls whose callers wait for
	// them (Post, Reply, and the adapters' own through Try).
	syncAttempts = 3
	syncBackoff  = 500 * time.Millisecond
	// maxSyncRetryAfter is the longest rate limit a synchronous call waits
	// out; beyond it, it fails rather than hold up the engine.
	maxSyncRetryAfter = 10 * time.Second
	// maxPendingLines bounds the output lines waiting for the thread while
	// the platform is slow; older ones are dropped and counted.
	maxPendingLines = 500
	// slotIdleTTL is how long the state of a message nobody updates is
	// kept (runs wait for approval or monitor for hours at most); a
	// message updated after that is edited all the same. Idle slots are
	// looked for once per sweepEvery.
	slotIdleTTL = 24 * time.Hour
	sweepEvery  = time.Hour
)

// key identifies a message.
type key struct{ channel, id string }

// slot is what Chat knows of one message it posted or edits: the content
// waiting to be sent and the output waiting for its thread. Its fields are
// guarded by Chat.mu; at most one worker runs per slot.
type slot struct {
	key     key
	target  *Target
	summary bool // an announce summary: no thread

	pending *runbook.Message // the newest content not yet sent
	sent    string           // the Key of what the message shows, to skip edits that change nothing
	lines   []string         // output lines waiting for the thread
	skipped int              // lines dropped from lines while the platform was slow

	lastSend  time.Time // when the worker last called the platform for this message
	notBefore time.Time // no call before then: Retry-After, backoff
	failures  int       // transient failures in a row
	gone      bool      // the message or its channel is gone: drop everything
	running   bool      // a worker serves the slot
	touched   time.Time
}

// slotFor returns the slot of k, creating it for a message first seen
// showing run runID. Callers hold c.mu.
func (c *Chat) slotFor(k key, runID uint64) *slot {
	s, ok := c.slots[k]
	if !ok {
		s = &slot{key: k, target: &Target{Channel: k.channel, ID: k.id, RunID: runID}}
		c.slots[k] = s
	}
	s.touched = c.clock.Now()
	return s
}

// queue makes m the content s is to show. Callers hold c.mu.
func (c *Chat) queue(s *slot, m runbook.Message) {
	s.pending = &m
	s.touched = c.clock.Now()
	c.startWorker(s)
}

// takeLog queues output lines for the thread. Callers hold c.mu.
func (c *Chat) takeLog(s *slot, lines []string) {
	if len(lines) == 0 || s.summary {
		return
	}
	s.lines = append(s.lines, lines...)
	if drop := len(s.lines) - maxPendingLines; drop > 0 {
		s.skipped += drop
		s.lines = slices.Delete(s.lines, 0, drop)
	}
}

// sweep forgets messages idle for slotIdleTTL, at most once per
// sweepEvery, and the summaries among them. Callers hold c.mu.
func (c *Chat) sweep() {
	now := c.clock.Now()
	if now.Sub(c.swept) < sweepEvery {
		return
	}
	c.swept = now
	for k, s := range c.slots {
		if !s.running && s.pending == nil && len(s.lines) == 0 && now.Sub(s.touched) > slotIdleTTL {
			delete(c.slots, k)
		}
	}
	for id, k := range c.summaries {
		if _, ok := c.slots[k]; !ok {
			delete(c.summaries, id)
			c.refs.Forget(id)
		}
	}
}

// startWorker starts a worker for s unless one runs. Callers hold c.mu.
func (c *Chat) startWorker(s *slot) {
	if s.running || c.closed {
		return
	}
	s.running = true
	if c.active == 0 {
		c.idle = make(chan struct{})
	}
	c.active++
	c.wg.Add(1)
	go c.work(s)
}

// due returns when s's next edit and its next output reply may be sent.
// Once closing, the pacing interval is not waited for. Callers hold c.mu.
func (c *Chat) due(s *slot) (edit, out time.Time) {
	edit = s.notBefore
	if !c.closed {
		edit = later(edit, s.lastSend.Add(c.opt.Interval))
	}
	out = s.notBefore
	if c.opt.PaceOutput {
		out = edit
	}
	return edit, out
}

// work sends s's pending content and output until nothing is left, pacing
// the calls, then ends.
func (c *Chat) work(s *slot) {
	defer c.wg.Done()
	c.mu.Lock()
	for {
		if s.gone || (s.pending == nil && len(s.lines) == 0) || c.ctx.Err() != nil {
			s.running = false
			c.active--
			if c.active == 0 {
				close(c.idle)
			}
			c.mu.Unlock()
			return
		}
		now := c.clock.Now()
		editAt, outAt := c.due(s)
		doEdit := s.pending != nil && !now.Before(editAt)
		doOut := len(s.lines) > 0 && !now.Before(outAt)
		if doEdit || doOut {
			c.send(s, doEdit, doOut) // unlocks and locks c.mu
			continue
		}
		next := outAt
		if s.pending != nil && (len(s.lines) == 0 || editAt.Before(outAt)) {
			next = editAt
		}
		if c.closed && next.After(c.deadline) {
			c.log.Warn().Str("channel", s.key.channel).Str("message", s.key.id).
				Msg(c.opt.Platform + ": closing; a message edit that must wait was dropped")
			s.pending, s.lines, s.skipped = nil, nil, 0
			continue
		}
		closing := c.closing
		if c.closed {
			closing = nil // closed already: only time wakes the worker
		}
		c.mu.Unlock()
		select {
		case <-c.clock.After(next.Sub(now)):
		case <-closing:
		case <-c.ctx.Done():
		}
		c.mu.Lock()
	}
}

// send makes the calls that are due for s: the edit to its newest
// content, and the reply showing the first of its output lines. Failures
// are judged by failed. Callers hold c.mu, which send releases while it
// calls the platform.
func (c *Chat) send(s *slot, doEdit, doOut bool) {
	var m *runbook.Message
	sent, summary, to := s.sent, s.summary, s.target
	if doEdit {
		m, s.pending = s.pending, nil
	}
	var out Drawing
	var lines []string
	skipped := 0
	if doOut {
		var n int
		out, n = c.r.Output(s.lines, s.skipped)
		n = min(max(n, 0), len(s.lines))
		lines, skipped = slices.Clone(s.lines[:n]), s.skipped
		s.lines, s.skipped = slices.Delete(s.lines, 0, n), 0
	}
	c.mu.Unlock()

	var upd, rep error
	shown, called := "", doOut
	if m != nil {
		d := c.r.Message(*m)
		if summary {
			d = c.r.Summary(*m)
		}
		if shown = d.Key(); shown != sent {
			upd, called = c.snd.Edit(c.ctx, to, d), true
		}
	}
	if doOut {
		rep = c.snd.Reply(c.ctx, to, out)
	}

	c.mu.Lock()
	if called {
		s.lastSend = c.clock.Now()
	}
	if m != nil {
		if upd == nil {
			s.sent = shown
		} else if c.failed(s, "edit", upd) && s.pending == nil {
			s.pending = m // retry it, unless newer content came meanwhile
		}
	}
	if rep != nil && c.failed(s, "reply", rep) {
		s.lines = append(lines, s.lines...)
		s.skipped += skipped
	}
	if upd == nil && rep == nil {
		s.failures = 0
	}
}

// failed handles a failed background call for s and reports whether to
// try again: after Retry-After for a rate limit, after a growing backoff
// for a transient error (a few times). A permanent error drops the
// content; one saying the message or channel is gone drops everything for
// the message. Callers hold c.mu.
func (c *Chat) failed(s *slot, call string, err error) bool {
	if c.ctx.Err() != nil {
		return false // closed
	}
	kind, wait := c.snd.Classify(err)
	ev := func(e *zerolog.Event) *zerolog.Event {
		return e.Str("call", call).Str("channel", s.key.channel).Str("message", s.key.id).Str("error", err.Error())
	}
	now := c.clock.Now()
	switch kind {
	case RateLimited:
		s.notBefore = later(s.notBefore, now.Add(wait))
		ev(c.log.Debug()).Dur("retry_after", wait).Msg(c.opt.Platform + ": rate limited; waiting")
		return true
	case Transient:
		s.failures++
		if s.failures > maxFailures {
			ev(c.log.Warn()).Int("attempts", s.failures).Msg(c.opt.Platform + ": giving up on a message edit after repeated failures")
			s.failures = 0
			return false
		}
		wait = min(c.opt.Interval<<(s.failures-1), maxBackoff)
		s.notBefore = later(s.notBefore, now.Add(wait))
		ev(c.log.Info()).Int("attempt", s.failures).Dur("retry_in", wait).Msg(c.opt.Platform + ": message edit failed; retrying")
		return true
	case Gone:
		ev(c.log.Warn()).Msg(c.opt.Platform + ": the message or its channel is gone; no more edits to it")
		s.gone = true
		s.pending, s.lines, s.skipped = nil, nil, 0
		return false
	default:
		ev(c.log.Warn()).Msg(c.opt.Platform + ": message edit refused; dropped")
		return false
	}
}

// Try runs a call whose caller waits for it, retrying a rate limit (of up
// to maxSyncRetryAfter) or a transient error a few times. A post retried
// after a server error may show twice if the platform took it but failed
// to answer: rarer, and better, than a run without its message.
func (c *Chat) Try(ctx context.Context, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || attempt == syncAttempts || ctx.Err() != nil {
			return err
		}
		kind, wait := c.snd.Classify(err)
		switch kind {
		case RateLimited:
			if wait > maxSyncRetryAfter {
				return err
			}
		case Transient:
			wait = syncBackoff << (attempt - 1)
		default:
			return err
		}
		c.log.Debug().Str("error", err.Error()).Dur("retry_in", wait).Msg(c.opt.Platform + ": call failed; retrying")
		select {
		case <-c.clock.After(wait):
		case <-ctx.Done():
			return err
		case <-c.ctx.Done():
			return err
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
