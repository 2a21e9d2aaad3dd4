package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/rs/zerolog"

	"shipmate/internal/adapters/chatref"
	"shipmate/internal/runbook"
)

// Pacing and retry limits of the chat.
const (
	// defaultMinInterval is the least time between two edits of one
	// message: Discord allows about five edits per 5 s per channel.
	defaultMinInterval = time.Second
	// maxFailures is how many transient failures in a row a message's
	// background sends survive before the content that failed is dropped.
	maxFailures = 5
	maxBackoff  = 30 * time.Second
	// syncAttempts bounds the tries of Post and Reply, whose callers wait.
	syncAttempts = 3
	// maxSyncRetryAfter is the longest rate limit a synchronous call waits.
	maxSyncRetryAfter = 10 * time.Second
	// maxPendingLines bounds the output lines waiting for the thread.
	maxPendingLines = 500
	// slotIdleTTL is how long an idle message is remembered: its thread,
	// what it shows. A message edited after that is edited all the same.
	slotIdleTTL = 24 * time.Hour
)

// errChatClosed is returned by calls after Close.
var errChatClosed = errors.New("discord: chat closed")

// Chat is Discord's runbook.Chat and runbook.Threader. Post is synchronous;
// Update returns at once and the edit is sent in the background: the edits
// of one message are coalesced (the latest content wins, at most one per
// minInterval), 429s are waited out and other failures retried, so the last
// content of every message gets there. New step output goes to a thread on
// the message, or as replies to it when a thread cannot be started. Runs
// in the announced environment also get a summary in the announce channel,
// edited with them.
type Chat struct {
	s   *discordgo.Session
	log zerolog.Logger
	opt chatOptions

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	slots     map[slotKey]*slot
	summaries map[uint64]slotKey // run id → its summary in the announce channel
	refs      *chatref.Summaries // the summaries across restarts
	swept     time.Time          // when idle slots were last dropped
	closed    bool
	idle      *sync.Cond // signalled when a worker stops
	active    int
}

var (
	_ runbook.Chat     = (*Chat)(nil)
	_ runbook.Threader = (*Chat)(nil)
)

type slotKey struct{ channel, id string }

// slot is what Chat knows of one message. Guarded by Chat.mu; at most one
// worker serves a slot.
type slot struct {
	runID   uint64
	summary bool // an announce summary: a short embed, no controls, no thread
	touched time.Time
	pending *runbook.Message
	sent    string // the rendered content the message shows
	lines   []string
	skipped int

	thread       string // the thread's channel id once started
	threadFailed bool   // replies go to the channel instead

	lastSend  time.Time
	notBefore time.Time
	failures  int
	running   bool
	gone      bool
}

// chatOptions configure the chat.
type chatOptions struct {
	// minInterval is the least time between two edits of one message.
	minInterval time.Duration
	// announceChannel receives a summary of each run in announceEnv;
	// empty: no announcements.
	announceChannel, announceEnv string
	// guildID, when known, makes links to messages.
	guildID string
	// refs keeps where each run's summary is across restarts (nil: in
	// memory only).
	refs chatref.Store
}

func newChat(s *discordgo.Session, log zerolog.Logger, opt chatOptions) *Chat {
	if opt.minInterval <= 0 {
		opt.minInterval = defaultMinInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Chat{s: s, log: log, opt: opt, ctx: ctx, cancel: cancel,
		slots: map[slotKey]*slot{}, summaries: map[uint64]slotKey{}, refs: chatref.New(opt.refs, "discord.summary")}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// Post implements runbook.Chat: it posts m to channel and returns the
// message id. A run in the announced environment also gets its summary in
// the announce channel.
func (c *Chat) Post(ctx context.Context, channel string, m runbook.Message) (string, error) {
	if c.isClosed() {
		return "", errChatClosed
	}
	r := render(m)
	var msg *discordgo.Message
	err := syncRetry(ctx, func() error {
		var err error
		msg, err = c.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
			Embeds: r.Embeds, Components: r.Components,
			AllowedMentions: noMentions(),
		}, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("discord: post to %s: %w", channel, err)
	}
	c.mu.Lock()
	s := c.slotFor(slotKey{channel, msg.ID})
	s.runID = m.RunID
	s.sent = key(r)
	s.lastSend = time.Now()
	c.takeLog(s, m.NewLog)
	if len(s.lines) > 0 {
		c.kick(s, slotKey{channel, msg.ID})
	}
	c.mu.Unlock()
	if c.announces(channel, m) {
		c.announce(ctx, m)
	}
	return msg.ID, nil
}

// announces reports whether m, posted to channel, is summarised in the
// announce channel.
func (c *Chat) announces(channel string, m runbook.Message) bool {
	return c.opt.announceChannel != "" && c.opt.announceEnv != "" && channel != c.opt.announceChannel &&
		m.RunID != 0 && m.Env == c.opt.announceEnv
}

// announce posts m's summary to the announce channel, or queues its edit
// when the run has one already. A failure is logged: the run goes on.
func (c *Chat) announce(ctx context.Context, m runbook.Message) {
	c.restoreSummary(ctx, m.RunID)
	c.mu.Lock()
	if k, ok := c.summaries[m.RunID]; ok {
		if s := c.slots[k]; s != nil {
			s.pending = &m
			c.kick(s, k)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	r := renderSummary(m)
	var msg *discordgo.Message
	err := syncRetry(ctx, func() error {
		var err error
		msg, err = c.s.ChannelMessageSendComplex(c.opt.announceChannel, &discordgo.MessageSend{
			Embeds: r.Embeds, AllowedMentions: noMentions()}, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		c.log.Warn().Err(err).Str("channel", c.opt.announceChannel).Uint64("run", m.RunID).Msg("discord: announce a run")
		return
	}
	if err := c.refs.Remember(ctx, m.RunID, c.opt.announceChannel, msg.ID); err != nil {
		c.log.Warn().Err(err).Uint64("run", m.RunID).Msg("discord: remember a run's summary")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := slotKey{c.opt.announceChannel, msg.ID}
	s := c.slotFor(k)
	s.runID, s.summary, s.sent, s.lastSend = m.RunID, true, key(r), time.Now()
	c.summaries[m.RunID] = k
}

// restoreSummary picks up the summary an earlier process posted for run
// id, once per run, so that a restarted bot edits it.
func (c *Chat) restoreSummary(ctx context.Context, id uint64) {
	c.mu.Lock()
	_, known := c.summaries[id]
	c.mu.Unlock()
	if known {
		return
	}
	msg, ok, err := c.refs.Restore(ctx, id, c.opt.announceChannel)
	if err != nil {
		c.log.Warn().Err(err).Uint64("run", id).Msg("discord: read a run's summary")
	}
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.summaries[id]; !known {
		k := slotKey{c.opt.announceChannel, msg}
		s := c.slotFor(k)
		s.runID, s.summary = id, true
		c.summaries[id] = k
	}
}

// Update implements runbook.Chat: it queues m as the message's content and
// its new output lines for the thread, and returns at once.
func (c *Chat) Update(ctx context.Context, channel, ref string, m runbook.Message) error {
	m.Log = slices.Clone(m.Log)
	if c.announces(channel, m) {
		c.restoreSummary(ctx, m.RunID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errChatClosed
	}
	c.sweep()
	k := slotKey{channel, ref}
	s := c.slotFor(k)
	if s.gone {
		return nil
	}
	s.runID = m.RunID
	c.takeLog(s, m.NewLog)
	s.pending = &m
	c.kick(s, k)
	if sk, ok := c.summaries[m.RunID]; ok && m.RunID != 0 {
		if ss := c.slots[sk]; ss != nil && !ss.gone {
			ss.pending = &m
			c.kick(ss, sk)
		}
	}
	return nil
}

// Reply implements runbook.Threader: it posts m into the message's thread,
// starting it if need be, or as a reply to the message.
func (c *Chat) Reply(ctx context.Context, channel, ref string, m runbook.Message) error {
	if c.isClosed() {
		return errChatClosed
	}
	text := m.Text
	if link := c.relatedLink(channel, m.Related); link != "" {
		text = strings.TrimSpace(text + "\n" + link)
	}
	r := render(runbook.Message{Title: m.Title, Status: m.Status, Tone: m.Tone, Text: text, Fields: m.Fields})
	send := &discordgo.MessageSend{Embeds: r.Embeds, AllowedMentions: noMentions()}
	return syncRetry(ctx, func() error { return c.toThread(ctx, channel, ref, m.RunID, send) })
}

// relatedLink points at a Discord message in another channel: the channel,
// and a link to the message when the guild is known.
func (c *Chat) relatedLink(channel string, o *runbook.Origin) string {
	if o == nil || o.Platform != Platform || o.Channel == "" || o.Channel == channel {
		return ""
	}
	if c.opt.guildID != "" && o.MessageRef != "" {
		return fmt.Sprintf("In <#%s>: https://discord.com/channels/%s/%s/%s", o.Channel, c.opt.guildID, o.Channel, o.MessageRef)
	}
	return "In <#" + o.Channel + ">"
}

// toThread sends msg into the thread of message ref, or as a reply to it.
func (c *Chat) toThread(ctx context.Context, channel, ref string, runID uint64, msg *discordgo.MessageSend) error {
	c.mu.Lock()
	s := c.slotFor(slotKey{channel, ref})
	thread, failed := s.thread, s.threadFailed
	c.mu.Unlock()
	if thread == "" && !failed {
		var err error
		thread, err = c.startThread(ctx, channel, ref, runID)
		var rl *discordgo.RateLimitError
		if errors.As(err, &rl) || errors.Is(err, context.Canceled) {
			return err
		}
		c.mu.Lock()
		if err != nil {
			c.log.Warn().Err(err).Str("channel", channel).Msg("discord: cannot start a thread; replying instead")
			s.threadFailed = true
		} else {
			s.thread = thread
		}
		c.mu.Unlock()
	}
	target := thread
	if target == "" {
		target = channel
		m := *msg
		m.Reference = &discordgo.MessageReference{MessageID: ref, ChannelID: channel}
		msg = &m
	}
	_, err := c.s.ChannelMessageSendComplex(target, msg, discordgo.WithContext(ctx))
	return err
}

// startThread starts the thread of message ref. A thread started on a
// message has the message's id; one started before (by an earlier
// process) is simply used.
func (c *Chat) startThread(ctx context.Context, channel, ref string, runID uint64) (string, error) {
	name := "Shipmate run output"
	if runID != 0 {
		name = fmt.Sprintf("Run #%d", runID)
	}
	ch, err := c.s.MessageThreadStartComplex(channel, ref, &discordgo.ThreadStart{
		Name: name, AutoArchiveDuration: 1440}, discordgo.WithContext(ctx))
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil && re.Message.Code == discordgo.ErrCodeThreadAlreadyCreatedForThisMessage {
		return ref, nil
	}
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}

// Flush waits until every queued edit and output line is sent, or ctx
// ends.
func (c *Chat) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		c.mu.Lock()
		for c.active > 0 {
			c.idle.Wait()
		}
		c.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the background sends and waits for them. Call Flush first.
func (c *Chat) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

func (c *Chat) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// slotFor returns the slot of k, creating it. Callers hold c.mu.
func (c *Chat) slotFor(k slotKey) *slot {
	s, ok := c.slots[k]
	if !ok {
		s = &slot{}
		c.slots[k] = s
	}
	s.touched = time.Now()
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
	for k, s := range c.slots {
		if !s.running && s.pending == nil && len(s.lines) == 0 && now.Sub(s.touched) > slotIdleTTL {
			delete(c.slots, k)
			if s.summary && c.summaries[s.runID] == k {
				delete(c.summaries, s.runID)
				c.refs.Forget(s.runID)
			}
		}
	}
}

// kick starts the slot's worker unless it runs. Callers hold c.mu.
func (c *Chat) kick(s *slot, k slotKey) {
	if s.running || c.closed {
		return
	}
	s.running = true
	c.active++
	c.wg.Add(1)
	go c.work(k, s)
}

// work sends the slot's newest content and output until none is left.
func (c *Chat) work(k slotKey, s *slot) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if s.gone || (s.pending == nil && len(s.lines) == 0) || c.ctx.Err() != nil {
			s.running = false
			c.active--
			c.idle.Broadcast()
			c.mu.Unlock()
			return
		}
		// Output lines need not wait for the next edit's turn.
		hold := time.Until(s.notBefore)
		editWait := max(hold, time.Until(s.lastSend.Add(c.opt.minInterval)))
		doEdit := s.pending != nil && editWait <= 0
		if !doEdit && (len(s.lines) == 0 || hold > 0) {
			wait := hold
			if s.pending != nil && (len(s.lines) == 0 || editWait < wait) {
				wait = editWait
			}
			c.mu.Unlock()
			select {
			case <-time.After(wait):
			case <-c.ctx.Done():
			}
			continue
		}
		var err error
		if doEdit {
			m := s.pending
			s.pending = nil
			sent := s.sent
			summary := s.summary
			c.mu.Unlock()
			r := render(*m)
			if summary {
				r = renderSummary(*m)
			}
			if key(r) != sent {
				err = c.edit(k, r)
			}
			c.mu.Lock()
			s.lastSend = time.Now()
			if err == nil {
				s.sent = key(r)
			} else if s.pending == nil {
				s.pending = m // retried unless newer content came
			}
		} else {
			lines, skipped := s.lines, s.skipped
			s.lines, s.skipped = nil, 0
			c.mu.Unlock()
			err = c.postLines(k, s.runID, lines, skipped)
			c.mu.Lock()
			if err != nil {
				s.lines = append(lines, s.lines...)
				s.skipped += skipped
			}
		}
		c.failed(k, s, err)
		c.mu.Unlock()
	}
}

// failed judges a send's error: a rate limit is waited out, a gone message
// drops the slot, other errors back off and, after maxFailures in a row,
// drop what failed. Callers hold c.mu.
func (c *Chat) failed(k slotKey, s *slot, err error) {
	if err == nil {
		s.failures = 0
		return
	}
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) {
		s.notBefore = time.Now().Add(rl.RetryAfter)
		return
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil &&
		(re.Response.StatusCode == http.StatusNotFound || re.Response.StatusCode == http.StatusForbidden) {
		c.log.Warn().Err(err).Str("channel", k.channel).Str("message", k.id).Msg("discord: message gone; no more edits")
		s.gone, s.pending, s.lines = true, nil, nil
		return
	}
	s.failures++
	if s.failures >= maxFailures {
		c.log.Error().Err(err).Str("channel", k.channel).Str("message", k.id).Msg("discord: giving up on an edit")
		s.failures, s.pending, s.lines = 0, nil, nil
		return
	}
	s.notBefore = time.Now().Add(min(maxBackoff, time.Duration(1<<s.failures)*250*time.Millisecond))
}

// edit replaces the message's embed and components.
func (c *Chat) edit(k slotKey, r rendered) error {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	_, err := c.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
		ID: k.id, Channel: k.channel, Embeds: &r.Embeds, Components: &r.Components,
	}, discordgo.WithContext(ctx))
	return err
}

// postLines sends output lines to the message's thread.
func (c *Chat) postLines(k slotKey, runID uint64, lines []string, skipped int) error {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	for _, text := range logContent(lines, skipped) {
		err := c.toThread(ctx, k.channel, k.id, runID, &discordgo.MessageSend{
			Content: text, AllowedMentions: noMentions()})
		if err != nil {
			return err // all lines are retried: a repeat beats a gap
		}
	}
	return nil
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

// key is the rendered content as compared between edits.
func key(r rendered) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// syncRetry calls fn up to syncAttempts times, waiting out rate limits of
// at most maxSyncRetryAfter and retrying server errors.
func syncRetry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = fn()
		if err == nil || attempt == syncAttempts {
			return err
		}
		wait := time.Duration(attempt) * 500 * time.Millisecond
		var rl *discordgo.RateLimitError
		var re *discordgo.RESTError
		switch {
		case errors.As(err, &rl):
			if rl.RetryAfter > maxSyncRetryAfter {
				return err
			}
			wait = rl.RetryAfter
		case errors.As(err, &re):
			if re.Response == nil || re.Response.StatusCode < 500 {
				return err
			}
		case ctx.Err() != nil:
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}
