package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"shipmate/internal/runbook"
)

// slotIdleTTL is how long the state of a message nobody updates is kept.
// Runs wait for approval or monitor for hours at most.
const slotIdleTTL = 24 * time.Hour

// slotKey identifies a Slack message.
type slotKey struct{ channel, ts string }

// slot is what Chat knows of one message it posted or edits: the content
// waiting to be sent and the output already passed to its thread. Its
// fields are guarded by Chat.mu; at most one worker runs per slot.
type slot struct {
	key     slotKey
	summary bool // an announce summary: one line of text, no thread

	pending *runbook.Message // the newest content not yet sent
	sent    string           // what the message shows now (rendered), to skip edits that change nothing
	lines   []string         // output lines waiting for the thread
	skipped int              // lines dropped from lines while Slack was slow

	lastSend  time.Time // when the worker last called Slack for this message
	notBefore time.Time // no call before then: Retry-After, backoff
	failures  int       // transient failures in a row
	gone      bool      // the message or its channel is gone: drop everything
	running   bool      // a worker serves the slot
	touched   time.Time
}

// Update implements runbook.Chat. It queues m as the message's new content
// (and its new output lines for the thread) and returns at once; the run's
// announce summary, if any, is edited too.
func (c *Chat) Update(ctx context.Context, channel, ref string, m runbook.Message) error {
	m = cloneMessage(m)
	if c.announces(channel, m) {
		c.restoreSummary(ctx, m.RunID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errChatClosed
	}
	c.sweep()
	s := c.slotFor(slotKey{channel, ref})
	if s.gone {
		return nil
	}
	c.takeLog(s, m.NewLog)
	c.queue(s, m)
	if key, ok := c.summaries[m.RunID]; ok && m.RunID != 0 {
		if ss := c.slots[key]; ss != nil && !ss.gone {
			c.queue(ss, m)
		}
	}
	return nil
}

// queue makes m the content s is to show. Callers hold c.mu.
func (c *Chat) queue(s *slot, m runbook.Message) {
	s.pending = &m
	s.touched = time.Now()
	c.kick(s)
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

// slotFor returns the slot of key, creating it. Callers hold c.mu.
func (c *Chat) slotFor(key slotKey) *slot {
	s, ok := c.slots[key]
	if !ok {
		s = &slot{key: key, touched: time.Now()}
		c.slots[key] = s
	}
	return s
}

// sweep forgets messages idle for slotIdleTTL, at most once an hour.
// Callers hold c.mu.
func (c *Chat) sweep() {
	now := time.Now()
	if now.Sub(c.swept) < time.Hour {
		return
	}
	c.swept = now
	for key, s := range c.slots {
		if !s.running && s.pending == nil && len(s.lines) == 0 && now.Sub(s.touched) > slotIdleTTL {
			delete(c.slots, key)
		}
	}
	for id, key := range c.summaries {
		if _, ok := c.slots[key]; !ok {
			delete(c.summaries, id)
			c.refs.Forget(id)
		}
	}
}

// kick starts a worker for s unless one runs. Callers hold c.mu.
func (c *Chat) kick(s *slot) {
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

// work sends s's pending content and output until nothing is left, pacing
// the calls, then ends.
func (c *Chat) work(s *slot) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if c.closed || s.gone || (s.pending == nil && len(s.lines) == 0) {
			s.running = false
			c.active--
			if c.active == 0 {
				close(c.idle)
			}
			c.mu.Unlock()
			return
		}
		at := s.lastSend.Add(c.opt.MinInterval)
		if s.notBefore.After(at) {
			at = s.notBefore
		}
		c.mu.Unlock()
		if wait := time.Until(at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
				continue
			}
		}

		c.mu.Lock()
		m := s.pending
		s.pending = nil
		lines := s.takeLines()
		sent := s.sent
		c.mu.Unlock()

		var upd, out error
		var shown string
		called := len(lines) > 0
		if m != nil {
			var edited bool
			shown, edited, upd = c.edit(s, m, sent)
			called = called || edited
		}
		if len(lines) > 0 {
			out = c.thread(s, lines)
		}

		c.mu.Lock()
		if called {
			s.lastSend = time.Now()
		}
		if m != nil {
			if upd == nil {
				s.sent = shown
			} else if c.failed(s, "chat.update", upd) && s.pending == nil {
				s.pending = m // retry it, unless newer content came meanwhile
			}
		}
		if len(lines) > 0 && out != nil && c.failed(s, "chat.postMessage", out) {
			s.lines = append(lines, s.lines...)
		}
		if upd == nil && out == nil {
			s.failures = 0
		}
		c.mu.Unlock()
	}
}

// takeLines takes the output lines for the next thread reply: as many as
// one reply holds. Callers hold Chat.mu.
func (s *slot) takeLines() []string {
	if len(s.lines) == 0 {
		return nil
	}
	var out []string
	size := 0
	if s.skipped > 0 {
		out = append(out, fmt.Sprintf("… %d lines not shown", s.skipped))
		s.skipped = 0
	}
	n := 0
	for n < len(s.lines) && len(out) < maxLinesPerReply {
		l := escapedLen(s.lines[n]) + 1
		if len(out) > 0 && size+l > logReplyBudget {
			break
		}
		size += l
		out = append(out, s.lines[n])
		n++
	}
	s.lines = slices.Delete(s.lines, 0, n)
	return out
}

// edit sends m as the new content of s's message, unless it shows what
// the message shows already; it returns what m shows and whether it
// called Slack.
func (c *Chat) edit(s *slot, m *runbook.Message, shown string) (string, bool, error) {
	var opts []slack.MsgOption
	var sig string
	if s.summary {
		text := renderSummary(*m)
		sig = text
		opts = []slack.MsgOption{slack.MsgOptionText(text, false)}
	} else {
		blocks, text := renderBlocks(*m), renderText(*m)
		sig = signature(blocks, text)
		opts = []slack.MsgOption{slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false)}
	}
	if sig == shown {
		return sig, false, nil
	}
	_, _, _, err := c.api.UpdateMessageContext(c.ctx, s.key.channel, s.key.ts, opts...)
	return sig, true, err
}

// thread posts output lines in the thread of s's message.
func (c *Chat) thread(s *slot, lines []string) error {
	_, _, err := c.api.PostMessageContext(c.ctx, s.key.channel, slack.MsgOptionTS(s.key.ts),
		slack.MsgOptionText(renderLog(lines), false), slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
	return err
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// escapedLen is the length of line once escaped for mrkdwn.
func escapedLen(line string) int {
	n := utf8.RuneCountInString(line)
	for _, r := range line {
		switch r {
		case '&':
			n += 4 // &amp;
		case '<', '>':
			n += 3 // &lt; &gt;
		}
	}
	return n
}

// signature identifies rendered content, to tell whether an edit changes
// anything.
func signature(blocks []slack.Block, text string) string {
	b, err := json.Marshal(blocks)
	if err != nil {
		return "" // never equal to a real signature: the edit is sent
	}
	return strconv.Quote(text) + string(b)
}

// cloneMessage copies m's slices, which the worker renders later.
func cloneMessage(m runbook.Message) runbook.Message {
	m.Fields = slices.Clone(m.Fields)
	m.Items = slices.Clone(m.Items)
	m.Buttons = slices.Clone(m.Buttons)
	m.Log = slices.Clone(m.Log)
	if m.Related != nil {
		r := *m.Related
		m.Related = &r
	}
	return m
}
