package slack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"shipmate/internal/adapters/chatref"
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
	// Refs remembers where each run's summary is, so that a restarted bot
	// goes on editing it (nil: in memory only).
	Refs chatref.Store
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
	refs      *chatref.Summaries // the summaries across restarts
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
	// maxPendingLines bounds the output lines waiting for the thread while
	// Slack is slow; older ones are dropped and counted.
	maxPendingLines = 500
	// maxLinesPerReply and logReplyBudget (escaped characters) bound one
	// thread reply of output, which renderLog would otherwise cut to
	// Slack's 3000 characters of text.
	maxLinesPerReply = 60
	logReplyBudget   = 2800
)

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
		slots: map[slotKey]*slot{}, summaries: map[uint64]slotKey{}, refs: chatref.New(opt.Refs, "slack.summary"), idle: idle}
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
	c.takeLog(s, m.NewLog) // output already there goes to the thread
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
	c.restoreSummary(ctx, m.RunID)
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
	if err := c.refs.Remember(ctx, m.RunID, c.opt.AnnounceChannel, ts); err != nil {
		c.log.Warn().Err(err).Uint64("run", m.RunID).Msg("slack: remember a run's summary")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slotFor(slotKey{c.opt.AnnounceChannel, ts})
	s.summary = true
	s.sent = text
	c.summaries[m.RunID] = s.key
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
	ts, ok, err := c.refs.Restore(ctx, id, c.opt.AnnounceChannel)
	if err != nil {
		c.log.Warn().Err(err).Uint64("run", id).Msg("slack: read a run's summary")
	}
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.summaries[id]; !known {
		s := c.slotFor(slotKey{c.opt.AnnounceChannel, ts})
		s.summary = true
		c.summaries[id] = s.key
	}
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
