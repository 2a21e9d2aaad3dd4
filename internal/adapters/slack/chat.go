package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"shipmate/internal/runbook"
)

// ChatOptions configure the Slack chat.
type ChatOptions struct {
	// AnnounceChannel receives a one-line summary of each run in
	// AnnounceEnv, edited as the run moves; empty: no announcements.
	AnnounceChannel string
	// AnnounceEnv is the environment whose runs are announced (the last
	// one, production).
	AnnounceEnv string
	// MinInterval is the least time between two edits of one message, and
	// between two posts to its thread (default 1s): chat.update is limited
	// to about 50 a minute, chat.postMessage to about one a second per
	// channel.
	MinInterval time.Duration
	Log         zerolog.Logger
}

// Chat is Slack's runbook.Chat and runbook.Threader. Post is synchronous;
// Update returns at once and the edit is sent in the background: the
// updates of one message are coalesced (the latest content wins, sent at
// most once per MinInterval), and the new lines of its step output go to
// its thread. Rate limits are waited out and transient errors retried, so
// the last content of every message gets there. Chat is safe for
// concurrent use.
type Chat struct {
	api *slack.Client
	opt ChatOptions
	log zerolog.Logger

	ctx    context.Context // ends with Close: background sends stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // the workers

	mu        sync.Mutex
	slots     map[slotKey]*slot
	summaries map[uint64]slotKey // run id → its summary in the announce channel
	active    int                // workers running
	idle      chan struct{}      // closed while no worker runs
	closed    bool
	swept     time.Time // when idle slots were last dropped
}

var (
	_ runbook.Chat     = (*Chat)(nil)
	_ runbook.Threader = (*Chat)(nil)
)

// errChatClosed is returned by calls after Close.
var errChatClosed = errors.New("slack: chat closed")

// Pacing and retry limits.
const (
	defaultMinInterval = time.Second
	// maxFailures is how many transient failures in a row a message's
	// background sends survive before the content that failed is dropped.
	maxFailures = 5
	maxBackoff  = 30 * time.Second
	// syncAttempts bounds the tries of Post, Reply and Ephemeral, whose
	// callers wait for them.
	syncAttempts = 3
	syncBackoff  = 500 * time.Millisecond
	// maxSyncRetryAfter is the longest rate limit a synchronous call waits
	// out; beyond it, it fails rather than hold up the engine.
	maxSyncRetryAfter = 10 * time.Second
)

// Step output limits.
const (
	// engineLogTail is how many lines of step output the engine sends in
	// each Message.Log at most: a shorter window is a step's whole output
	// so far.
	engineLogTail = 12
	// maxPendingLines bounds the output lines waiting for the thread while
	// Slack is slow; older ones are dropped and counted.
	maxPendingLines = 500
	// maxLinesPerReply and logReplyBudget (escaped characters) bound one
	// thread reply of output, which renderLog would otherwise cut to
	// Slack's 3000 characters of text.
	maxLinesPerReply = 60
	logReplyBudget   = 2800
	// recentWindows is how many distinct output windows a message
	// remembers, to recognise a stale one (a message rendered from the
	// stored run while a step streams newer output).
	recentWindows = 4
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
	seen    []string         // the last output window taken from an Update
	windows [][]string       // recent distinct windows, newest last
	lines   []string         // output lines waiting for the thread
	skipped int              // lines dropped from lines while Slack was slow

	lastSend  time.Time // when the worker last called Slack for this message
	notBefore time.Time // no call before then: Retry-After, backoff
	failures  int       // transient failures in a row
	gone      bool      // the message or its channel is gone: drop everything
	running   bool      // a worker serves the slot
	touched   time.Time
}

// NewChat returns a chat posting with api. Call Close when done, after
// Flush to send what is pending.
func NewChat(api *slack.Client, opt ChatOptions) *Chat {
	if opt.MinInterval <= 0 {
		opt.MinInterval = defaultMinInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{})
	close(idle)
	return &Chat{api: api, opt: opt, log: opt.Log, ctx: ctx, cancel: cancel,
		slots: map[slotKey]*slot{}, summaries: map[uint64]slotKey{}, idle: idle}
}

// Post implements runbook.Chat: it posts m to channel and returns the
// message's ts. A run in the announced environment also gets its summary
// line in the announce channel.
func (c *Chat) Post(ctx context.Context, channel string, m runbook.Message) (string, error) {
	if c.isClosed() {
		return "", errChatClosed
	}
	blocks, text := renderBlocks(m), renderText(m)
	var ts string
	err := c.try(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = c.api.PostMessageContext(ctx, channel, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack: post to %s: %w", channel, err)
	}
	m = cloneMessage(m)
	c.mu.Lock()
	s := c.slotFor(slotKey{channel, ts})
	s.sent = signature(blocks, text)
	c.takeLog(s, m.Log) // output already there goes to the thread
	if len(s.lines) > 0 {
		c.kick(s)
	}
	c.mu.Unlock()
	if c.announces(channel, m) {
		c.announce(ctx, m)
	}
	return ts, nil
}

// announces reports whether m, posted to channel, is summarised in the
// announce channel.
func (c *Chat) announces(channel string, m runbook.Message) bool {
	return c.opt.AnnounceChannel != "" && c.opt.AnnounceEnv != "" && channel != c.opt.AnnounceChannel &&
		m.RunID != 0 && m.Status != "" && m.Env == c.opt.AnnounceEnv
}

// announce posts m's summary line to the announce channel, or edits it if
// the run has one already. A failure is logged: the run goes on.
func (c *Chat) announce(ctx context.Context, m runbook.Message) {
	c.mu.Lock()
	if key, ok := c.summaries[m.RunID]; ok {
		if s := c.slots[key]; s != nil {
			c.queue(s, m)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	text := renderSummary(m)
	var ts string
	err := c.try(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = c.api.PostMessageContext(ctx, c.opt.AnnounceChannel, slack.MsgOptionText(text, false))
		return err
	})
	if err != nil {
		c.log.Warn().Str("channel", c.opt.AnnounceChannel).Uint64("run", m.RunID).Str("error", redact(err.Error())).
			Msg("slack: announce a run")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slotFor(slotKey{c.opt.AnnounceChannel, ts})
	s.summary = true
	s.sent = text
	c.summaries[m.RunID] = s.key
}

// Update implements runbook.Chat. It queues m as the message's new content
// (and its new output lines for the thread) and returns at once; the run's
// announce summary, if any, is edited too.
func (c *Chat) Update(ctx context.Context, channel, ref string, m runbook.Message) error {
	m = cloneMessage(m)
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
	c.takeLog(s, m.Log)
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

// takeLog finds the lines of the output window cur that s has not seen and
// queues them for the thread. Callers hold c.mu.
func (c *Chat) takeLog(s *slot, cur []string) {
	if len(cur) == 0 || s.summary {
		return
	}
	for _, w := range s.windows {
		if slices.Equal(w, cur) {
			return // seen already, or a stale copy of what was
		}
	}
	s.lines = append(s.lines, newLines(s.seen, cur)...)
	if drop := len(s.lines) - maxPendingLines; drop > 0 {
		s.skipped += drop
		s.lines = slices.Delete(s.lines, 0, drop)
	}
	s.seen = cur
	s.windows = append(s.windows, cur)
	if len(s.windows) > recentWindows {
		s.windows = slices.Delete(s.windows, 0, len(s.windows)-recentWindows)
	}
}

// newLines returns the lines of the output window cur that follow the
// window prev. The engine sends the last engineLogTail lines of a step's
// output each time. A shorter window is the step's whole output so far: it
// continues prev if prev is its beginning, else a new step has started. A
// full window slid on from prev by as many lines as were added: the
// longest end of prev that begins cur was seen already.
func newLines(prev, cur []string) []string {
	if len(cur) < engineLogTail {
		if len(prev) <= len(cur) && slices.Equal(prev, cur[:len(prev)]) {
			return cur[len(prev):]
		}
		return cur
	}
	for k := min(len(prev), len(cur)); k > 0; k-- {
		if slices.Equal(prev[len(prev)-k:], cur[:k]) {
			return cur[k:]
		}
	}
	return cur
}

// Reply implements runbook.Threader: it posts m in the thread of the
// message ref. When m relates to a Slack message elsewhere, the reply
// links its channel and, when Slack gives one, its permalink.
func (c *Chat) Reply(ctx context.Context, channel, ref string, m runbook.Message) error {
	if c.isClosed() {
		return errChatClosed
	}
	blocks, text := renderBlocks(m), renderText(m)
	if link := c.relatedLink(ctx, m.Related); link != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, link, false, false)))
		text += " (" + link + ")"
	}
	err := c.try(ctx, "chat.postMessage", func(ctx context.Context) error {
		_, _, err := c.api.PostMessageContext(ctx, channel, slack.MsgOptionTS(ref),
			slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false))
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: reply in the thread of %s in %s: %w", ref, channel, err)
	}
	return nil
}

// relatedLink links a related Slack message: its channel, and a permalink
// to the message itself when there is one.
func (c *Chat) relatedLink(ctx context.Context, o *runbook.Origin) string {
	if o == nil || o.Platform != Platform || !slackID(o.Channel) {
		return ""
	}
	link := "<#" + o.Channel + ">"
	if o.MessageRef == "" {
		return link
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url, err := c.api.GetPermalinkContext(pctx, &slack.PermalinkParameters{Channel: o.Channel, Ts: o.MessageRef})
	if err != nil || url == "" {
		c.log.Debug().Str("channel", o.Channel).Str("error", errText(err)).Msg("slack: chat.getPermalink")
		return link
	}
	return link + " · <" + url + "|view message>"
}

// slackID reports whether s looks like a Slack id (upper-case letters and
// digits), so that it can go in a <#…> link unescaped.
func slackID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Ephemeral shows text (mrkdwn) to user alone in channel.
func (c *Chat) Ephemeral(ctx context.Context, channel, user, text string) error {
	if c.isClosed() {
		return errChatClosed
	}
	err := c.try(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := c.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false))
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: ephemeral message in %s: %w", channel, err)
	}
	return nil
}

// Flush waits until every queued edit and thread reply is sent (or given
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

// Close stops sending: what is still queued is dropped (call Flush first).
// Later calls fail.
func (c *Chat) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	dropped := 0
	for _, s := range c.slots {
		if s.pending != nil || len(s.lines) > 0 {
			dropped++
		}
	}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if dropped > 0 {
		c.log.Warn().Int("messages", dropped).Msg("slack: closed with message edits not sent")
	}
}

func (c *Chat) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
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

// failed handles a failed background call for s and reports whether to
// try again: after Retry-After for a rate limit, after a growing backoff
// for a transient error (a few times). A permanent error drops the
// content; one saying the message or channel is gone drops everything for
// the message. Callers hold c.mu.
func (c *Chat) failed(s *slot, method string, err error) bool {
	if c.ctx.Err() != nil {
		return false // closing
	}
	kind, wait := classify(err)
	ev := func(e *zerolog.Event) *zerolog.Event {
		return e.Str("method", method).Str("channel", s.key.channel).Str("ts", s.key.ts).Str("error", redact(err.Error()))
	}
	switch kind {
	case failRateLimited:
		s.notBefore = later(s.notBefore, time.Now().Add(wait))
		ev(c.log.Debug()).Dur("retry_after", wait).Msg("slack: rate limited; waiting")
		return true
	case failTransient:
		s.failures++
		if s.failures > maxFailures {
			ev(c.log.Warn()).Int("attempts", s.failures).Msg("slack: giving up on a message edit after repeated failures")
			s.failures = 0
			return false
		}
		wait = min(c.opt.MinInterval<<(s.failures-1), maxBackoff)
		s.notBefore = later(s.notBefore, time.Now().Add(wait))
		ev(c.log.Info()).Int("attempt", s.failures).Dur("retry_in", wait).Msg("slack: message edit failed; retrying")
		return true
	case failGone:
		ev(c.log.Warn()).Msg("slack: the message or its channel is gone; no more edits to it")
		s.gone = true
		s.pending, s.lines, s.skipped = nil, nil, 0
		return false
	default:
		ev(c.log.Warn()).Msg("slack: message edit refused; dropped")
		return false
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// try runs a call whose caller waits for it, retrying a rate limit (up to
// maxSyncRetryAfter) or a transient error a few times. A post retried
// after a 5xx may show twice if Slack took it but failed to answer: rarer,
// and better, than a run without its message.
func (c *Chat) try(ctx context.Context, method string, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || attempt == syncAttempts || ctx.Err() != nil {
			return err
		}
		kind, wait := classify(err)
		switch kind {
		case failRateLimited:
			if wait > maxSyncRetryAfter {
				return err
			}
		case failTransient:
			wait = syncBackoff << (attempt - 1)
		default:
			return err
		}
		c.log.Debug().Str("method", method).Str("error", redact(err.Error())).Dur("retry_in", wait).Msg("slack: call failed; retrying")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-c.ctx.Done():
			t.Stop()
			return err
		}
	}
}

// failure is what a failed Slack call calls for.
type failure int

const (
	failPermanent   failure = iota // this content cannot be sent: drop it
	failRateLimited                // retry after Retry-After
	failTransient                  // retry after a backoff
	failGone                       // the message or channel is gone: stop
)

// goneErrors are Slack errors saying a message can no longer be edited.
var goneErrors = map[string]bool{
	"channel_not_found": true, "message_not_found": true, "is_archived": true, "not_in_channel": true,
	"cant_update_message": true, "edit_window_closed": true, "thread_not_found": true,
}

// transientErrors are Slack errors worth retrying.
var transientErrors = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true,
	"ratelimited": true, "rate_limited": true, "team_added_to_org": true,
}

// classify tells a failed call's error apart.
func classify(err error) (failure, time.Duration) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return failRateLimited, max(rl.RetryAfter, time.Second)
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch {
		case goneErrors[se.Err]:
			return failGone, 0
		case transientErrors[se.Err]:
			return failTransient, 0
		}
		return failPermanent, 0
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Retryable() {
			return failTransient, 0
		}
		return failPermanent, 0
	}
	// Network errors, timeouts, a proxy's HTML page.
	return failTransient, 0
}

// tokenRE matches Slack tokens, which must never reach the log.
var tokenRE = regexp.MustCompile(`\b(xox[a-z]|xapp)-[0-9A-Za-z-]+`)

// redact removes tokens from s.
func redact(s string) string { return tokenRE.ReplaceAllString(s, "$1-REDACTED") }

func errText(err error) string {
	if err == nil {
		return "no permalink"
	}
	return redact(err.Error())
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
